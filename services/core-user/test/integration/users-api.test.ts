import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { problemType } from '@nuri/platform/http';
import { isUuidv7 } from '@nuri/platform/ids';
import { envelopeKeyId } from '../../src/crypto/pii-cipher.ts';
import { auth, buildTestApp, createTestDatabase, newKeys, selectUsers } from './helpers.ts';

// Top level, so that the helpers' `after` hooks belong to the whole file.
const { database } = await createTestDatabase();
const { app, logLines } = buildTestApp(database, newKeys());

function register(body: unknown, headers: Record<string, string> = auth) {
  return app.inject({ method: 'POST', url: '/internal/v1/users', headers, payload: body as object });
}

async function confirm(userUuid: string) {
  return app.inject({ method: 'POST', url: `/internal/v1/users/${userUuid}/confirm`, headers: auth });
}

async function rowsFor(userUuid: string) {
  return (await selectUsers(database)).filter((row) => row.user_uuid === userUuid);
}

function assertProblem(response: Awaited<ReturnType<typeof register>>, status: number, code: string) {
  assert.equal(response.statusCode, status);
  assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
  const body = response.json();
  assert.equal(body.code, code);
  assert.equal(body.type, problemType(code));
  return body as { detail: string };
}

describe('POST /internal/v1/users', () => {
  it('when a new person registers, then 201 with a UUIDv7 and masked values, and one encrypted row exists', async () => {
    const response = await register({ name: '홍길동', rrn: '900101-1234567', phone: '010-1234-5678' });
    assert.equal(response.statusCode, 201);
    const body = response.json();
    assert.ok(isUuidv7(body.userUuid));
    assert.deepEqual(body, {
      userUuid: body.userUuid,
      maskedName: '홍*동',
      maskedRrn: '900101-1******',
      maskedPhone: '010-1234-****',
      status: 'RESERVED',
    });
    const rows = await rowsFor(body.userUuid);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.verification, 'FORMAT_ONLY', 'what was checked is recorded');
    assert.equal(rows[0]!.pii_key_id, 'k1');
    assert.equal(envelopeKeyId(rows[0]!.name_ciphertext), 'k1');
    assert.notEqual(rows[0]!.phone_ciphertext, null);
  });

  it('when the same person registers again (other spelling of the same values), then 200 with the same userUuid and no new row', async () => {
    const first = await register({ name: '김철수', rrn: '850315-1234567', phone: '01099998888' });
    assert.equal(first.statusCode, 201);
    const countBefore = (await selectUsers(database)).length;
    const again = await register({ name: ' 김철수 '.normalize('NFD'), rrn: '8503151234567' });
    assert.equal(again.statusCode, 200);
    // The stored record answers, including the phone given the first time.
    assert.deepEqual(again.json(), first.json());
    assert.equal((await selectUsers(database)).length, countBefore);
  });

  it('when the RRN is registered (confirmed) under another name, then 409 REAL_NAME_MISMATCH and the stored row is unchanged', async () => {
    const first = await register({ name: '이영희', rrn: '920202-2234567' });
    assert.equal((await confirm(first.json().userUuid)).statusCode, 204);
    const [before] = await rowsFor(first.json().userUuid);
    const response = await register({ name: '이영수', rrn: '920202-2234567', phone: '010-1111-2222' });
    const body = assertProblem(response, 409, 'REAL_NAME_MISMATCH');
    assert.equal(body.detail.includes('이영'), false);
    assert.deepEqual(await rowsFor(first.json().userUuid), [before]);
  });

  it('when names of 2 and 4 characters register, then they are masked 홍* and 남**수; an absent phone is null', async () => {
    const two = await register({ name: '홍길', rrn: '000229-3234567' });
    assert.equal(two.statusCode, 201);
    assert.equal(two.json().maskedName, '홍*');
    assert.equal(two.json().maskedRrn, '000229-3******');
    assert.equal(two.json().maskedPhone, null);
    assert.equal((await rowsFor(two.json().userUuid))[0]!.phone_ciphertext, null);
    const four = await register({ name: '남궁민수', rrn: '010101-4234567', phone: '016-1234-5678' });
    assert.equal(four.json().maskedName, '남**수');
    assert.equal(four.json().maskedPhone, '016-1234-****');
  });

  it('when the body has unknown fields, then they are ignored', async () => {
    const response = await register({
      name: 'John Smith',
      rrn: '880808-5234567',
      nickname: 'JS',
      role: 'admin',
    });
    assert.equal(response.statusCode, 201);
    assert.equal(response.json().maskedName, 'J********h');
  });

  it('when a field is missing or invalid, then 400 VALIDATION_FAILED names the field, never echoes the value, and stores nothing', async () => {
    const valid = { name: '박보검', rrn: '930616-1234567', phone: '010-2222-3333' };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['name', { rrn: valid.rrn }],
      ['name', { ...valid, name: '박보검1' }],
      ['name', { ...valid, name: '박  보검' }],
      ['name', { ...valid, name: '가'.repeat(51) }],
      ['name', { ...valid, name: 42 }],
      ['rrn', { name: valid.name }],
      ['rrn', { ...valid, rrn: '931316-1234567' }],
      ['rrn', { ...valid, rrn: '930616-9234567' }],
      ['rrn', { ...valid, rrn: '930616-0234567' }],
      ['rrn', { ...valid, rrn: '010229-3234567' }],
      ['rrn', { ...valid, rrn: '991231-3234567' }],
      ['rrn', { ...valid, rrn: 9306161234567 }],
      ['phone', { ...valid, phone: '012-2222-3333' }],
      ['phone', { ...valid, phone: '010-222-3333' }],
      ['phone', { ...valid, phone: null }],
    ];
    const countBefore = (await selectUsers(database)).length;
    for (const [field, body] of cases) {
      const response = await register(body);
      const problem = assertProblem(response, 400, 'VALIDATION_FAILED');
      assert.match(
        problem.detail,
        new RegExp(`(body/|required properties )${field}\\b`),
        JSON.stringify(body),
      );
      for (const value of Object.values(body)) {
        if (typeof value === 'string') assert.equal(response.body.includes(value), false, `echoed ${value}`);
      }
    }
    assert.equal((await selectUsers(database)).length, countBefore);
  });

  it('when the body is malformed JSON or not an object, then 400 VALIDATION_FAILED', async () => {
    const malformed = await app.inject({
      method: 'POST',
      url: '/internal/v1/users',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"name": "홍길동", "rrn": "900101-1234567"',
    });
    const problem = assertProblem(malformed, 400, 'VALIDATION_FAILED');
    assert.equal(malformed.body.includes('900101'), false, problem.detail);
    assertProblem(await register([]), 400, 'VALIDATION_FAILED');
  });

  it('when the internal token is missing or wrong, then 401 UNAUTHENTICATED and nothing is stored', async () => {
    const countBefore = (await selectUsers(database)).length;
    const body = { name: '최민호', rrn: '950505-1234567' };
    assertProblem(await register(body, {}), 401, 'UNAUTHENTICATED');
    assertProblem(
      await register(body, { authorization: 'Bearer not-the-internal-token-at-all-000000' }),
      401,
      'UNAUTHENTICATED',
    );
    assert.equal((await selectUsers(database)).length, countBefore);
  });

  it('when a registration is logged, then the lines carry the userUuid but no name, RRN or phone in any spelling', async () => {
    logLines.length = 0;
    const response = await register({ name: '정다운', rrn: '970707-2345678', phone: '010-7777-6543' });
    await confirm(response.json().userUuid);
    const again = await register({ name: '정다운', rrn: '9707072345678', phone: '01077776543' });
    const mismatch = await register({ name: '정다은', rrn: '970707-2345678' });
    assert.deepEqual([response.statusCode, again.statusCode, mismatch.statusCode], [201, 200, 409]);
    const logs = logLines.join('');
    assert.ok(logs.includes(response.json().userUuid), 'the userUuid is logged');
    for (const pii of [
      '정다운',
      '정다은',
      '970707-2345678',
      '9707072345678',
      '010-7777-6543',
      '01077776543',
    ]) {
      assert.equal(logs.includes(pii), false, `log contains ${pii}`);
    }
    // Fragments as short as a phone's last four digits also turn up by chance
    // in what every line carries — the clock (epoch ms 1796543… did), ids,
    // ports, addresses — so they are looked for in everything else a line says.
    const carried = new Set([
      'time',
      'pid',
      'hostname',
      'reqId',
      'userUuid',
      'traceId',
      'spanId',
      'responseTime',
      'remotePort',
      'host',
    ]);
    const said = logLines
      .map((line) => JSON.stringify(JSON.parse(line), (key, value) => (carried.has(key) ? undefined : value)))
      .join('');
    for (const fragment of ['2345678', '6543']) {
      assert.equal(said.includes(fragment), false, `log contains ${fragment}`);
    }
  });
});

describe('reservations, confirmation and the attempt limit', () => {
  it('when an unconfirmed reservation holds an RRN under another name, then a new registration replaces it: a failed or junk signup cannot squat the RRN', async () => {
    const junk = await register({ name: '가짜이름', rrn: '910909-1234567' });
    assert.equal(junk.statusCode, 201);
    const real = await register({ name: '진짜이름', rrn: '910909-1234567' });
    assert.equal(real.statusCode, 201);
    assert.notEqual(real.json().userUuid, junk.json().userUuid);
    assert.deepEqual(await rowsFor(junk.json().userUuid), [], 'the junk reservation is gone');
    assert.equal((await confirm(real.json().userUuid)).statusCode, 204);
    assert.equal((await confirm(junk.json().userUuid)).statusCode, 404);
    const later = await register({ name: '가짜이름', rrn: '910909-1234567' });
    assertProblem(later, 409, 'REAL_NAME_MISMATCH');
    assert.equal((await rowsFor(real.json().userUuid))[0]!.status, 'CONFIRMED');
  });

  it('when a signup fails after the registry, then its reservation is released and a confirmed user never is', async () => {
    const reserved = await register({ name: '김반납', rrn: '920303-1234567' });
    const release = (userUuid: string) =>
      app.inject({ method: 'DELETE', url: `/internal/v1/users/${userUuid}/reservation`, headers: auth });
    assert.equal((await release(reserved.json().userUuid)).statusCode, 204);
    assert.deepEqual(await rowsFor(reserved.json().userUuid), []);
    const kept = await register({ name: '김유지', rrn: '920304-1234567' });
    await confirm(kept.json().userUuid);
    assert.equal((await release(kept.json().userUuid)).statusCode, 204);
    assert.equal((await rowsFor(kept.json().userUuid)).length, 1);
  });

  it('when one RRN is tried more than 10 times in an hour, whatever the names, then 429 RATE_LIMITED', async () => {
    const rrn = '930707-1234567';
    const confirmed = await register({ name: '박실명', rrn });
    await confirm(confirmed.json().userUuid);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt += 1) {
      statuses.push((await register({ name: `박추측${'가나다라마바사아자차카'[attempt]}`, rrn })).statusCode);
    }
    assert.deepEqual(statuses.slice(0, 9), Array(9).fill(409), 'mismatches while under the limit');
    assert.deepEqual(statuses.slice(9), [429, 429]);
    assertProblem(await register({ name: '박실명', rrn }), 429, 'RATE_LIMITED');
  });
});

describe('GET /internal/v1/users/{userUuid}', () => {
  it('when the user exists, then 200 with the masked values', async () => {
    const created = (
      await register({ name: '남궁민수', rrn: '800101-1234567', phone: '010-1234-5678' })
    ).json();
    const response = await app.inject({ url: `/internal/v1/users/${created.userUuid}`, headers: auth });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      userUuid: created.userUuid,
      maskedName: '남**수',
      maskedRrn: '800101-1******',
      maskedPhone: '010-1234-****',
    });
  });

  it('when no user has the uuid, then 404 USER_NOT_FOUND; a malformed uuid is 400 VALIDATION_FAILED', async () => {
    const missing = await app.inject({
      url: '/internal/v1/users/01936b2e-8f00-7000-8000-000000000000',
      headers: auth,
    });
    assertProblem(missing, 404, 'USER_NOT_FOUND');
    const malformed = await app.inject({ url: '/internal/v1/users/not-a-uuid', headers: auth });
    assertProblem(malformed, 400, 'VALIDATION_FAILED');
  });

  it('when the token is missing or wrong, then 401 even for an existing user', async () => {
    const created = (await register({ name: '오하늘', rrn: '990909-2234567' })).json();
    const url = `/internal/v1/users/${created.userUuid}`;
    assertProblem(await app.inject({ url }), 401, 'UNAUTHENTICATED');
    assertProblem(await app.inject({ url, headers: { authorization: 'Bearer x' } }), 401, 'UNAUTHENTICATED');
  });

  it('when health is probed without a token, then it answers and reports the database ready', async () => {
    const response = await app.inject({ url: '/health/ready' });
    assert.equal(response.statusCode, 200);
    const { instance, ...readiness } = response.json();
    assert.deepEqual(readiness, { status: 'ok', checks: { database: 'ok' } });
    assert.equal(instance.pid, process.pid, 'and which process answered');
  });
});
