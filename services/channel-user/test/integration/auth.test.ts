import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { accessTokenAudience, accessTokenIssuer } from '@nuri/platform/access-token';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { sql } from 'kysely';
import { purgeExpiredRefreshTokens } from '../../src/db/refresh-tokens-repository.ts';
import {
  coreBackIn,
  fakeRegistry,
  randomRrn,
  startService,
  type TestService,
  uniqueLoginId,
} from './helpers.ts';

const password = 'correct-horse-42';

let service: TestService;

before(async () => {
  service = await startService('auth');
  service.coreUser.handler = fakeRegistry();
});

after(async () => {
  await service?.close();
});

async function signUp(body: Record<string, unknown>) {
  return service.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: body });
}

async function logIn(loginId: string, pass = password, client = '198.51.100.7') {
  return service.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    // As the gateway forwards it: the client's address.
    headers: { 'x-forwarded-for': client },
    payload: { loginId, password: pass },
  });
}

function failuresOf(loginId: string, client = '198.51.100.7') {
  return service.database.db
    .selectFrom('login_failures')
    .selectAll()
    .where('login_id', '=', loginId)
    .where('client', '=', client)
    .executeTakeFirst();
}

async function newUser() {
  const loginId = uniqueLoginId();
  const response = await signUp({
    loginId,
    password,
    name: '홍길동',
    rrn: randomRrn(),
    phone: '010-1234-5678',
  });
  assert.equal(response.statusCode, 201, response.body);
  return { loginId, userUuid: response.json<{ userUuid: string }>().userUuid };
}

describe('signup', () => {
  test('when a new person signs up, then 201 carries masked values only and the login is stored hashed', async () => {
    const loginId = uniqueLoginId();
    const rrn = randomRrn();
    const response = await signUp({ loginId, password, name: '홍길동', rrn, phone: '01012345678' });
    assert.equal(response.statusCode, 201, response.body);
    const body = response.json<Record<string, string>>();
    assert.deepEqual(Object.keys(body).sort(), ['loginId', 'maskedName', 'maskedRrn', 'userUuid']);
    assert.equal(body.maskedName, '홍*동');
    assert.equal(body.maskedRrn, `${rrn.slice(0, 6)}-1******`);
    assert.ok(!response.body.includes(rrn.slice(7)) && !response.body.includes('홍길동'));
    const row = await service.database.db
      .selectFrom('logins')
      .selectAll()
      .where('login_id', '=', loginId)
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(row.masked_phone, '010-1234-****');
    const dump = JSON.stringify(row);
    assert.ok(!dump.includes(password) && !dump.includes(rrn.slice(7)) && !dump.includes('홍길동'));
  });

  test('when the same person signs up again with another loginId, then 409 ALREADY_REGISTERED', async () => {
    const rrn = randomRrn();
    const first = await signUp({ loginId: uniqueLoginId(), password, name: '김철수', rrn });
    assert.equal(first.statusCode, 201);
    const second = await signUp({ loginId: uniqueLoginId(), password, name: '김철수', rrn });
    assert.equal(second.statusCode, 409);
    assert.equal(second.json().code, 'ALREADY_REGISTERED');
  });

  test('when another person takes a used loginId, then 409 LOGIN_ID_TAKEN and no second login exists', async () => {
    const { loginId } = await newUser();
    const response = await signUp({ loginId, password, name: '이영희', rrn: randomRrn() });
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'LOGIN_ID_TAKEN');
    const count = await service.database.db
      .selectFrom('logins')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('login_id', '=', loginId)
      .executeTakeFirstOrThrow();
    assert.equal(count.n, 1);
  });

  test('when the RRN is registered under another name, then the core 409 REAL_NAME_MISMATCH passes through', async () => {
    const rrn = randomRrn();
    assert.equal((await signUp({ loginId: uniqueLoginId(), password, name: '박민수', rrn })).statusCode, 201);
    const response = await signUp({ loginId: uniqueLoginId(), password, name: '박민지', rrn });
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'REAL_NAME_MISMATCH');
  });

  test('when input breaks a rule, then 400 VALIDATION_FAILED and the core is not called', async () => {
    const good = { loginId: uniqueLoginId(), password, name: '홍길동', rrn: randomRrn() };
    const bad: Array<Record<string, unknown>> = [
      { ...good, loginId: 'ab' },
      { ...good, loginId: 'UPPER_case' },
      { ...good, loginId: "x' or 1=1--" },
      { ...good, password: 'short1' },
      { ...good, password: 'nodigitsatall' },
      { ...good, password: '1234567890123' },
      { ...good, password: `a1${'x'.repeat(127)}` },
      { ...good, name: '' },
      { ...good, name: 'Robert"); DROP TABLE logins;--' },
      { ...good, name: 123 },
      { ...good, rrn: '901301-1234567' },
      { ...good, rrn: '900101-9234567' },
      { ...good, rrn: '9001011234' },
      { ...good, phone: '02-123-4567' },
      { loginId: good.loginId, password },
    ];
    const callsBefore = service.coreUser.calls.length;
    for (const body of bad) {
      const response = await signUp(body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json().code, 'VALIDATION_FAILED');
      assert.ok(!response.body.includes(good.rrn));
    }
    assert.equal(service.coreUser.calls.length, callsBefore);
  });

  test('when the core is unreachable or fails, then 503 CORE_UNAVAILABLE and nothing is created', async () => {
    const loginId = uniqueLoginId();
    const registry = service.coreUser.handler;
    for (const answer of [
      { status: 500 },
      { status: 200, delayMs: 1_500 },
      { status: 502, body: '<html>' },
    ]) {
      service.coreUser.handler = () => answer;
      const response = await signUp({ loginId, password, name: '홍길동', rrn: randomRrn() });
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().code, 'CORE_UNAVAILABLE');
    }
    service.coreUser.handler = registry;
    await coreBackIn(service.coreClients.user);
    const row = await service.database.db
      .selectFrom('logins')
      .select('user_uuid')
      .where('login_id', '=', loginId)
      .executeTakeFirst();
    assert.equal(row, undefined);
  });

  test('when the loginId is taken, then 409 LOGIN_ID_TAKEN comes before the registry is asked: a failing signup reserves no one', async () => {
    const { loginId } = await newUser();
    const callsBefore = service.coreUser.calls.length;
    const squat = await signUp({ loginId, password, name: '가짜이름', rrn: randomRrn() });
    assert.equal(squat.statusCode, 409);
    assert.equal(squat.json().code, 'LOGIN_ID_TAKEN');
    assert.equal(service.coreUser.calls.length, callsBefore, 'core-user was not called');
  });

  test('when the registration cannot be confirmed after the login was written, then the login is removed and the signup answers 503: nothing is left half made', async () => {
    const loginId = uniqueLoginId();
    const rrn = randomRrn();
    const registry = service.coreUser.handler;
    service.coreUser.handler = (request) =>
      request.path.endsWith('/confirm') ? { status: 503 } : registry(request);
    try {
      const failed = await signUp({ loginId, password, name: '홍길동', rrn });
      assert.equal(failed.statusCode, 503, failed.body);
      assert.equal(failed.json().code, 'CORE_UNAVAILABLE');
    } finally {
      service.coreUser.handler = registry;
    }
    await coreBackIn(service.coreClients.user);
    assert.equal(
      await service.database.db
        .selectFrom('logins')
        .select('user_uuid')
        .where('login_id', '=', loginId)
        .executeTakeFirst(),
      undefined,
    );
    const retried = await signUp({ loginId, password, name: '홍길동', rrn });
    assert.equal(retried.statusCode, 201, retried.body);
    const confirmedCalls = service.coreUser.calls.filter((call) => call.path.endsWith('/confirm'));
    assert.ok(confirmedCalls.length >= 2);
  });

  test('when the call to the core is made, then it carries the internal token', async () => {
    await newUser();
    assert.equal(
      service.coreUser.calls.at(-1)?.authorization,
      'Bearer test-internal-token-0123456789abcdefghijklmnop',
    );
  });

  test('when two signups of one person race, then exactly one login is created', async () => {
    const rrn = randomRrn();
    const responses = await Promise.all(
      [0, 1, 2].map(() => signUp({ loginId: uniqueLoginId(), password, name: '최지우', rrn })),
    );
    assert.deepEqual(responses.map((response) => response.statusCode).sort(), [201, 409, 409]);
  });
});

describe('login, tokens and lockout', () => {
  test('when the password is right, then a signed EdDSA access token and a refresh token come back', async () => {
    const { loginId, userUuid } = await newUser();
    const response = await logIn(loginId);
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json<{
      accessToken: string;
      refreshToken: string;
      tokenType: string;
      expiresIn: number;
    }>();
    assert.equal(body.tokenType, 'Bearer');
    assert.equal(body.expiresIn, 900);
    assert.match(body.refreshToken, /^[A-Za-z0-9_-]{43}$/);
    const header = decodeProtectedHeader(body.accessToken);
    const claims = decodeJwt(body.accessToken);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, 'k1');
    assert.equal(claims.sub, userUuid);
    assert.equal(claims.iss, accessTokenIssuer);
    assert.equal(claims.aud, accessTokenAudience);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 900);
    assert.ok(typeof claims.jti === 'string');
    const me = await service.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json(), {
      userUuid,
      loginId,
      maskedName: '홍*동',
      maskedRrn: me.json().maskedRrn,
      maskedPhone: '010-1234-****',
    });
    const stored = await service.database.db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('user_uuid', '=', userUuid)
      .execute();
    assert.equal(stored.length, 1);
    assert.notEqual(stored[0]!.token_hash.toString('base64url'), body.refreshToken);
  });

  test('when the loginId is unknown or the password wrong, then the same 401 INVALID_CREDENTIALS', async () => {
    const { loginId } = await newUser();
    const unknown = await logIn(uniqueLoginId());
    const wrong = await logIn(loginId, 'wrong-password-1');
    // Ids no signup can make (found by `npm run chaos -- fuzz`: 21+ characters were a 500).
    const impossible = await Promise.all(
      ['<script>alert(1)</script>', 'a'.repeat(21), 'UPPER_CASE', '가나다라'].map((id) => logIn(id)),
    );
    for (const response of [unknown, wrong, ...impossible]) {
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().code, 'INVALID_CREDENTIALS');
      assert.equal(response.json().detail, unknown.json().detail);
    }
  });

  test('when 5 attempts in a row fail, then even the right password answers 423 LOGIN_LOCKED until the lock expires', async () => {
    const { loginId, userUuid } = await newUser();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      assert.equal((await logIn(loginId, 'wrong-password-1')).statusCode, 401);
    }
    const locked = await logIn(loginId);
    assert.equal(locked.statusCode, 423);
    assert.equal(locked.json().code, 'LOGIN_LOCKED');
    const row = await failuresOf(loginId);
    assert.ok(row?.locked_until != null && row.locked_until.getTime() > Date.now() + 14 * 60_000);
    await service.database.db
      .updateTable('login_failures')
      .set({ locked_until: new Date(Date.now() - 1_000) })
      .where('login_id', '=', loginId)
      .where('client', '=', '198.51.100.7')
      .execute();
    assert.equal((await logIn(loginId)).statusCode, 200);
    assert.equal(userUuid.length, 36);
  });

  test('when a stranger fails 5 times, then the stranger is locked out and the owner, from their own client, still logs in', async () => {
    const { loginId } = await newUser();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      assert.equal((await logIn(loginId, 'wrong-password-1', '203.0.113.66')).statusCode, 401);
    }
    assert.equal((await logIn(loginId, password, '203.0.113.66')).statusCode, 423);
    assert.equal(
      (await logIn(loginId, password, '198.51.100.7')).statusCode,
      200,
      'the owner is not locked out',
    );
  });

  test('when an unknown loginId fails 5 times, then it answers 423 LOGIN_LOCKED like a known one, so lockout tells nothing', async () => {
    const ghost = uniqueLoginId();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      assert.equal((await logIn(ghost, 'wrong-password-1')).statusCode, 401);
    }
    const locked = await logIn(ghost, 'wrong-password-1');
    assert.equal(locked.statusCode, 423);
    assert.equal(locked.json().code, 'LOGIN_LOCKED');
  });

  test('when many clients together try one loginId past 20 times in 15 minutes, then it is throttled to one attempt per 30 s with 429 and Retry-After', async () => {
    const { loginId } = await newUser();
    const statuses: number[] = [];
    for (let client = 0; client < 21; client += 1) {
      statuses.push((await logIn(loginId, 'wrong-password-1', `192.0.2.${client}`)).statusCode);
    }
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
    assert.equal(statuses[20], 429);
    const throttled = await logIn(loginId, password, '198.51.100.7');
    assert.equal(throttled.statusCode, 429);
    assert.equal(throttled.json().code, 'RATE_LIMITED');
    assert.equal(throttled.headers['retry-after'], '30');
  });

  test('when strangers who locked themselves out keep trying, then they never take the one attempt per 30 s the owner needs', async () => {
    const { loginId } = await newUser();
    for (let client = 0; client < 4; client += 1) {
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        assert.equal((await logIn(loginId, 'wrong-password-1', `192.0.2.${client}`)).statusCode, 401);
      }
    }
    // Twenty failures across clients: one attempt per 30 s from now on; the last one was 31 s ago.
    await service.database.db
      .updateTable('login_failures')
      .set({ last_attempt_at: new Date(Date.now() - 31_000) })
      .where('login_id', '=', loginId)
      .where('client', '=', '*')
      .execute();
    for (let client = 0; client < 4; client += 1) {
      assert.equal((await logIn(loginId, 'wrong-password-1', `192.0.2.${client}`)).statusCode, 423);
    }
    assert.equal((await logIn(loginId, password, '198.51.100.7')).statusCode, 200, 'the slot was still free');
  });

  test('when the owner logs in successfully more than 20 times in 15 minutes, then it is never throttled (only failures count across clients)', async () => {
    const { loginId } = await newUser();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 25; attempt += 1) statuses.push((await logIn(loginId)).statusCode);
    assert.deepEqual(statuses, Array(25).fill(200));
    for (let client = 0; client < 20; client += 1) {
      assert.equal((await logIn(loginId, 'wrong-password-1', `192.0.2.${client}`)).statusCode, 401);
    }
    assert.equal((await logIn(loginId, password, '198.51.100.7')).statusCode, 429, 'failures still count');
  });

  test('when wrong guesses race, then the counter loses none and locks after 5', async () => {
    const { loginId } = await newUser();
    const responses = await Promise.all(Array.from({ length: 8 }, () => logIn(loginId, 'wrong-password-1')));
    const statuses = responses.map((response) => response.statusCode);
    assert.equal(statuses.filter((status) => status === 401).length, 5, statuses.join(','));
    assert.equal(statuses.filter((status) => status === 423).length, 3);
    assert.equal((await failuresOf(loginId))?.failures, 5);
  });

  test('when one person logs in 10 times at once with the right password, then every login succeeds and nothing locks', async () => {
    const { loginId } = await newUser();
    const responses = await Promise.all(Array.from({ length: 10 }, () => logIn(loginId)));
    assert.deepEqual(
      responses.map((response) => response.statusCode),
      Array.from({ length: 10 }, () => 200),
    );
    assert.equal(await failuresOf(loginId), undefined, 'each success cleared the count');
  });

  test('when a success follows 4 failures, then the count starts over', async () => {
    const { loginId } = await newUser();
    for (let attempt = 1; attempt <= 4; attempt += 1) await logIn(loginId, 'wrong-password-1');
    assert.equal((await logIn(loginId)).statusCode, 200);
    for (let attempt = 1; attempt <= 4; attempt += 1) await logIn(loginId, 'wrong-password-1');
    assert.equal((await logIn(loginId)).statusCode, 200);
  });

  test('when a refresh token is used, then a new pair comes back and the old one is dead; reusing it kills the family', async () => {
    const { loginId } = await newUser();
    const first = (await logIn(loginId)).json<{ refreshToken: string }>();
    const refresh = (refreshToken: string) =>
      service.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
    const second = await refresh(first.refreshToken);
    assert.equal(second.statusCode, 200);
    const secondPair = second.json<{ refreshToken: string; accessToken: string }>();
    assert.notEqual(secondPair.refreshToken, first.refreshToken);
    const reuse = await refresh(first.refreshToken);
    assert.equal(reuse.statusCode, 401);
    assert.equal(reuse.json().code, 'UNAUTHENTICATED');
    // The thief's reuse revoked the whole family: the legitimate newest token is dead too.
    assert.equal((await refresh(secondPair.refreshToken)).statusCode, 401);
    assert.equal((await refresh('not-a-token')).statusCode, 401);
  });

  test('when two refreshes with one token race, then exactly one wins', async () => {
    const { loginId } = await newUser();
    const { refreshToken } = (await logIn(loginId)).json<{ refreshToken: string }>();
    const responses = await Promise.all(
      [0, 1].map(() =>
        service.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } }),
      ),
    );
    assert.deepEqual(responses.map((response) => response.statusCode).sort(), [200, 401]);
  });

  test('when a user logs out, then 204 and that refresh token no longer refreshes', async () => {
    const { loginId } = await newUser();
    const pair = (await logIn(loginId)).json<{ refreshToken: string; accessToken: string }>();
    const logout = await service.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { authorization: `Bearer ${pair.accessToken}` },
      payload: { refreshToken: pair.refreshToken },
    });
    assert.equal(logout.statusCode, 204);
    assert.equal(logout.body, '');
    const refresh = await service.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    assert.equal(refresh.statusCode, 401);
  });

  test('when the web console logs out with an expired or no access token, then the cookie alone ends the session: 204, the cookie cleared, and it refreshes no more', async () => {
    const { loginId } = await newUser();
    const login = await service.app.inject({
      method: 'POST',
      url: '/api/v1/auth/web-session',
      headers: { 'x-forwarded-for': '198.51.100.7' },
      payload: { loginId, password },
    });
    assert.equal(login.statusCode, 200, login.body);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const webSession = (url: string, headers: Record<string, string> = {}) =>
      service.app.inject({ method: 'POST', url, headers: { 'x-nuri-web': '1', cookie, ...headers } });
    // A tab that slept past its access token: the console still sends the stale one.
    const stale = `${login.json<{ accessToken: string }>().accessToken.slice(0, -4)}AAAA`;
    const logout = await webSession('/api/v1/auth/web-session/logout', { authorization: `Bearer ${stale}` });
    assert.equal(logout.statusCode, 204, logout.body);
    assert.match(String(logout.headers['set-cookie']), /Max-Age=0/);
    const after = await webSession('/api/v1/auth/web-session/refresh');
    assert.equal(after.statusCode, 401, 'the session came back after logout');
    assert.equal(after.json().code, 'UNAUTHENTICATED');
    // And without any access token at all, as the header alone guards it (400 without it).
    const again = await webSession('/api/v1/auth/web-session/logout');
    assert.equal(again.statusCode, 204);
    const bare = await service.app.inject({
      method: 'POST',
      url: '/api/v1/auth/web-session/logout',
      headers: { cookie },
    });
    assert.equal(bare.statusCode, 400);
  });

  test('when protected routes get no, a tampered or a foreign token, then 401 UNAUTHENTICATED', async () => {
    const { loginId } = await newUser();
    const { accessToken } = (await logIn(loginId)).json<{ accessToken: string }>();
    const [header, , signature] = accessToken.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...decodeJwt(accessToken), sub: '01890a5d-ac96-774b-bcce-b302099a8057' }),
    ).toString('base64url');
    const other = await startService('auth_other');
    const { token: foreign } = await other.issuer.issue('01890a5d-ac96-774b-bcce-b302099a8057');
    await other.close();
    const cases: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer' },
      { authorization: `Basic ${accessToken}` },
      { authorization: `Bearer ${header}.${forgedPayload}.${signature}` },
      { authorization: `Bearer ${tamperedSignature(accessToken)}` },
      { authorization: `Bearer ${foreign}` },
      { authorization: `Bearer ${accessToken}`, 'x-user-uuid': '01890a5d-ac96-774b-bcce-b302099a8057' },
    ];
    for (const headers of cases) {
      const response = await service.app.inject({ method: 'GET', url: '/api/v1/me', headers });
      assert.equal(response.statusCode, 401, JSON.stringify(headers));
      assert.equal(response.json().code, 'UNAUTHENTICATED');
    }
  });

  test('when a flood of logins for unknown loginIds arrives, then hashing is capped (503 with Retry-After beyond it) and token checks do not wait behind the hashes', async () => {
    const { loginId } = await newUser();
    const { accessToken } = (await logIn(loginId)).json<{ accessToken: string }>();
    const flood = Array.from({ length: 160 }, (_, index) =>
      logIn(uniqueLoginId(), 'wrong-password-1', `10.9.${Math.floor(index / 250)}.${index % 250}`),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = Date.now();
    const me = await service.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const meMs = Date.now() - started;
    const answers = await Promise.all(flood);
    assert.equal(me.statusCode, 200);
    assert.ok(meMs < 300, `a token check waited ${meMs} ms behind the hashes`);
    const refused = answers.filter((answer) => answer.statusCode === 503);
    assert.ok(refused.length > 0, 'past the waiting room, logins are refused at once');
    assert.equal(refused[0]!.headers['retry-after'], '1');
    assert.ok(answers.every((answer) => answer.statusCode === 401 || answer.statusCode === 503));
  });

  test('when the JWKS is fetched, then it lists the public key with its kid and no private part', async () => {
    const response = await service.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(response.statusCode, 200);
    const { keys } = response.json<{ keys: Array<Record<string, string>> }>();
    assert.equal(keys.length, 1);
    assert.deepEqual(Object.keys(keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(keys[0]!.kid, 'k1');
  });
});

test('when core answers an unexpected 4xx without a problem body, then the client sees 503 not internals', async () => {
  const registry = service.coreUser.handler;
  service.coreUser.handler = () => ({ status: 418, body: { secret: 'internal' } });
  const response = await signUp({ loginId: uniqueLoginId(), password, name: '홍길동', rrn: randomRrn() });
  service.coreUser.handler = registry;
  assert.equal(response.statusCode, 503);
  assert.ok(!response.body.includes('internal'));
});

test('when refresh tokens have been expired for over a day, then housekeeping deletes them and keeps the rest', async () => {
  const { loginId, userUuid } = await newUser();
  await logIn(loginId);
  await service.database.db
    .insertInto('refresh_tokens')
    .values({
      token_hash: Buffer.alloc(32, 7),
      family_id: '01890a5d-ac96-774b-bcce-b302099a8057',
      user_uuid: userUuid,
      expires_at: new Date(Date.now() - 2 * 86_400_000),
      used_at: null,
      revoked_at: null,
    })
    .execute();
  assert.ok((await purgeExpiredRefreshTokens(service.database.db, 100)) >= 1);
  const left = await service.database.db
    .selectFrom('refresh_tokens')
    .select('expires_at')
    .where('user_uuid', '=', userUuid)
    .execute();
  assert.equal(left.length, 1);
  assert.ok(left[0]!.expires_at.getTime() > Date.now());
});

/**
 * The token with one signature character in the middle changed. Not the last
 * ones: an Ed25519 signature is 64 bytes, 86 base64url characters, and the
 * last character carries only 2 bits, so the last two carry 8; setting them
 * to `AA` changed nothing whenever those 8 bits were already 0 (1 token in
 * 256), and the test failed now and then. A middle character carries 6 bits
 * of the signature: another character there always changes its bytes.
 */
function tamperedSignature(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const middle = Math.floor(signature.length / 2);
  const replacement = signature[middle] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, middle)}${replacement}${signature.slice(middle + 1)}`;
}
