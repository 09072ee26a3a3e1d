import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { createLocalJWKSet, exportJWK, errors as joseErrors, SignJWT } from 'jose';
import {
  accessTokenAudience,
  accessTokenIssuer,
  accessTokenLengthMax,
  bearerToken,
  createAccessTokenVerifier,
  createCachingAccessTokenVerifier,
} from '../../src/access-token.ts';
import { AppError } from '../../src/errors.ts';
import { uuidv7 } from '../../src/ids.ts';

const signing = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
const verifier = createAccessTokenVerifier(createLocalJWKSet({ keys: [publicJwk] }), 0);

function token(
  overrides: {
    audience?: string;
    issuer?: string;
    expiresIn?: string;
    kid?: string;
    key?: typeof signing.privateKey;
    sub?: string;
  } = {},
) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: overrides.kid ?? 'k1' })
    .setSubject(overrides.sub ?? uuidv7())
    .setIssuer(overrides.issuer ?? accessTokenIssuer)
    .setAudience(overrides.audience ?? accessTokenAudience)
    .setIssuedAt()
    .setJti(uuidv7())
    .setExpirationTime(overrides.expiresIn ?? '15m')
    .sign(overrides.key ?? signing.privateKey);
}

async function assertUnauthenticated(promise: Promise<unknown>) {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof AppError && error.status === 401 && error.code === 'UNAUTHENTICATED',
  );
}

describe('access token verification', () => {
  it('when a token is signed by a published key with the right claims, then its subject is the user', async () => {
    const userUuid = uuidv7();
    const claims = await verifier.verify(await token({ sub: userUuid }));
    assert.equal(claims.userUuid, userUuid);
    assert.ok(claims.expiresAt.getTime() > Date.now());
  });

  it('when a token is expired, for another audience or issuer, signed by another key, with an unknown kid, or tampered, then 401', async () => {
    await assertUnauthenticated(verifier.verify(await token({ expiresIn: '-1s' })));
    await assertUnauthenticated(verifier.verify(await token({ audience: 'someone-else' })));
    await assertUnauthenticated(verifier.verify(await token({ issuer: 'https://evil.example' })));
    await assertUnauthenticated(verifier.verify(await token({ key: stranger.privateKey })));
    await assertUnauthenticated(verifier.verify(await token({ kid: 'k9' })));
    await assertUnauthenticated(verifier.verify(await token({ sub: 'not-a-uuid' })));
    const [header, payload, signature] = (await token()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: uuidv7() }),
    ).toString('base64url');
    await assertUnauthenticated(verifier.verify(`${header}.${forged}.${signature}`));
    await assertUnauthenticated(verifier.verify('not.a.jwt'));
  });

  it('when a token says alg none, then it is refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        sub: uuidv7(),
        iss: accessTokenIssuer,
        aud: accessTokenAudience,
        exp: Math.floor(Date.now() / 1000) + 60,
        iat: 1,
        jti: 'x',
      }),
    ).toString('base64url');
    await assertUnauthenticated(verifier.verify(`${header}.${payload}.`));
  });

  /** A token signed with our key whose header and claims are exactly what the test says. */
  function craft(header: Record<string, unknown>, claims: Record<string, unknown>, key = signing.privateKey) {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${encode(header)}.${encode(claims)}`;
    return `${signed}.${sign(null, Buffer.from(signed), key).toString('base64url')}`;
  }
  const nowSeconds = () => Math.floor(Date.now() / 1_000);
  const goodClaims = () => ({
    sub: uuidv7(),
    iss: accessTokenIssuer,
    aud: accessTokenAudience,
    iat: nowSeconds(),
    exp: nowSeconds() + 60,
    jti: uuidv7(),
  });

  it('when a token is well-formed in every way jose writes it (typ JWT, audience in a list), then it verifies', async () => {
    const claims = goodClaims();
    const verified = await verifier.verify(craft({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' }, claims));
    assert.equal(verified.userUuid, claims.sub);
    assert.equal(verified.tokenId, claims.jti);
    assert.equal(verified.expiresAt.getTime(), claims.exp * 1_000);
    const listed = await verifier.verify(
      craft({ alg: 'EdDSA', kid: 'k1' }, { ...claims, aud: ['x', accessTokenAudience] }),
    );
    assert.equal(listed.userUuid, claims.sub);
  });

  it('when the header asks for anything but EdDSA under a kid (crit, jku, another typ, no kid, HS256), then 401', async () => {
    for (const header of [
      { alg: 'EdDSA', kid: 'k1', crit: ['exp'], exp: 1 },
      { alg: 'EdDSA', kid: 'k1', jku: 'https://evil.example/jwks.json' },
      { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' },
      { alg: 'EdDSA' },
      { alg: 'EdDSA', kid: 7 },
      { alg: 'HS256', kid: 'k1' },
      { alg: 'EdDSA', kid: 'k1', b64: false },
    ]) {
      await assertUnauthenticated(verifier.verify(craft(header, goodClaims())));
    }
  });

  it('when a claim is missing, mistyped or out of its time, then 401; within the clock tolerance it verifies', async () => {
    const header = { alg: 'EdDSA', kid: 'k1' };
    const { exp: _exp, ...withoutExp } = goodClaims();
    const { iat: _iat, ...withoutIat } = goodClaims();
    const { jti: _jti, ...withoutJti } = goodClaims();
    for (const claims of [
      withoutExp,
      withoutIat,
      withoutJti,
      { ...goodClaims(), exp: String(nowSeconds() + 60) },
      { ...goodClaims(), iat: 'yesterday' },
      { ...goodClaims(), jti: '' },
      { ...goodClaims(), nbf: nowSeconds() + 60 },
      { ...goodClaims(), aud: [accessTokenIssuer] },
      { ...goodClaims(), exp: nowSeconds() - 1 },
    ]) {
      await assertUnauthenticated(verifier.verify(craft(header, claims)));
    }
    const tolerant = createAccessTokenVerifier(createLocalJWKSet({ keys: [publicJwk] }), 30);
    const late = { ...goodClaims(), exp: nowSeconds() - 10, nbf: nowSeconds() + 10 };
    assert.equal((await tolerant.verify(craft(header, late))).userUuid, late.sub);
    await assertUnauthenticated(tolerant.verify(craft(header, { ...late, exp: nowSeconds() - 60 })));
  });

  it('when a segment is not canonical base64url, not a JSON object, or the signature not 64 bytes, then 401', async () => {
    const good = craft({ alg: 'EdDSA', kid: 'k1' }, goodClaims());
    const [header, payload, signature] = good.split('.') as [string, string, string];
    // The last of 86 characters carries 2 bits; 'B' after 'A' sets a spare bit that Buffer would drop.
    const last = signature.at(-1)!;
    const respelled = `${signature.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(signature, 'base64url'));
    await assertUnauthenticated(verifier.verify(`${header}.${payload}.${respelled}`));
    // The header respelt the same way decodes to the same JSON, but the signature covers its text as sent.
    const headerLast = header.at(-1)!;
    const respeltHeader = `${header.slice(0, -1)}${String.fromCharCode(headerLast.charCodeAt(0) + 1)}`;
    assert.deepEqual(Buffer.from(respeltHeader, 'base64url'), Buffer.from(header, 'base64url'));
    await assertUnauthenticated(verifier.verify(`${respeltHeader}.${payload}.${signature}`));
    await assertUnauthenticated(verifier.verify(`${header}.${payload}.${signature}==`));
    await assertUnauthenticated(verifier.verify(`${header}.${payload}.${signature.slice(0, 43)}`));
    await assertUnauthenticated(verifier.verify(`${header}.${payload}.${signature}.extra`));
    const array = Buffer.from('["EdDSA"]').toString('base64url');
    await assertUnauthenticated(verifier.verify(`${array}.${payload}.${signature}`));
    await assertUnauthenticated(
      verifier.verify(`${header}.${Buffer.from('{"sub":').toString('base64url')}.${signature}`),
    );
  });

  it('when a token is longer than any of ours could be, then 401 without asking for a key', async () => {
    let asked = 0;
    const counting = createAccessTokenVerifier(async (protectedHeader, input) => {
      asked += 1;
      return createLocalJWKSet({ keys: [publicJwk] })(protectedHeader, input);
    }, 0);
    const padded = craft(
      { alg: 'EdDSA', kid: 'k1' },
      { ...goodClaims(), pad: 'x'.repeat(accessTokenLengthMax) },
    );
    await assertUnauthenticated(counting.verify(padded));
    assert.equal(asked, 0);
    await counting.verify(craft({ alg: 'EdDSA', kid: 'k1' }, goodClaims()));
    assert.equal(asked, 1);
  });

  it('when the key resolver hands back anything but an Ed25519 public key, then 401', async () => {
    const claims = goodClaims();
    const tokenValue = craft({ alg: 'EdDSA', kid: 'k1' }, claims);
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const key of [new Uint8Array(32), p256.publicKey, signing.privateKey]) {
      const odd = createAccessTokenVerifier(async () => key as never, 0);
      await assertUnauthenticated(odd.verify(tokenValue));
    }
    const direct = createAccessTokenVerifier(async () => signing.publicKey as never, 0);
    assert.equal((await direct.verify(tokenValue)).userUuid, claims.sub);
  });

  it('when the key set cannot be fetched, then 503 AUTH_UNAVAILABLE; any other failure of the resolver is 401', async () => {
    const tokenValue = craft({ alg: 'EdDSA', kid: 'k1' }, goodClaims());
    const failing = (error: unknown) => createAccessTokenVerifier(async () => Promise.reject(error), 0);
    const outages = [
      new TypeError('fetch failed'),
      new joseErrors.JWKSTimeout(),
      new joseErrors.JOSEError('Expected 200 OK from the JSON Web Key Set HTTP response'),
    ];
    for (const outage of outages) {
      await assert.rejects(
        failing(outage).verify(tokenValue),
        (error: unknown) =>
          error instanceof AppError && error.status === 503 && error.code === 'AUTH_UNAVAILABLE',
      );
    }
    const duplicated = createLocalJWKSet({ keys: [publicJwk, { ...publicJwk }] });
    for (const verifierOf of [
      failing(new joseErrors.JWKSNoMatchingKey()),
      failing(new Error('anything else')),
      createAccessTokenVerifier(duplicated, 0),
    ]) {
      await assertUnauthenticated(verifierOf.verify(tokenValue));
    }
  });

  it('when the resolver hands back an object that is no key, or an Ed448 key, or the token is not a string, then 401', async () => {
    const tokenValue = craft({ alg: 'EdDSA', kid: 'k1' }, goodClaims());
    const ed448 = generateKeyPairSync('ed448');
    for (const key of [{ kty: 'OKP' }, ed448.publicKey]) {
      await assertUnauthenticated(createAccessTokenVerifier(async () => key as never, 0).verify(tokenValue));
    }
    await assertUnauthenticated(verifier.verify(undefined as never));
    await assertUnauthenticated(verifier.verify(42 as never));
  });

  it('when exp or nbf sit exactly on the clock tolerance, then exp is refused and nbf accepted, as jose did', async () => {
    const tolerant = createAccessTokenVerifier(createLocalJWKSet({ keys: [publicJwk] }), 30);
    const header = { alg: 'EdDSA', kid: 'k1' };
    // A second of slack either way, so the clock ticking during the test cannot flip the answer.
    await assertUnauthenticated(tolerant.verify(craft(header, { ...goodClaims(), exp: nowSeconds() - 31 })));
    const atEdge = { ...goodClaims(), nbf: nowSeconds() + 29 };
    assert.equal((await tolerant.verify(craft(header, atEdge))).userUuid, atEdge.sub);
    await assertUnauthenticated(tolerant.verify(craft(header, { ...goodClaims(), nbf: nowSeconds() + 32 })));
  });

  it('when a number is out of range or the wrong type (1e400, -1, null, a year ahead), or typ is spelt another way, then 401', async () => {
    const header = { alg: 'EdDSA', kid: 'k1' };
    for (const claims of [
      { ...goodClaims(), exp: -1 },
      { ...goodClaims(), nbf: null },
      { ...goodClaims(), iat: -5 },
      { ...goodClaims(), exp: nowSeconds() + 365 * 86_400 },
    ]) {
      await assertUnauthenticated(verifier.verify(craft(header, claims)));
    }
    // 1e400 is valid JSON that parses to Infinity: written as raw text, as a forger would.
    const encode = (text: string) => Buffer.from(text).toString('base64url');
    const raw = `${encode(JSON.stringify(header))}.${encode(JSON.stringify(goodClaims()).replace(/"exp":\d+/, '"exp":1e400'))}`;
    const signedRaw = `${raw}.${sign(null, Buffer.from(raw), signing.privateKey).toString('base64url')}`;
    await assertUnauthenticated(verifier.verify(signedRaw));
    const proto = `{"alg":"EdDSA","kid":"k1","__proto__":{"x":1}}`;
    const protoSigned = `${encode(proto)}.${encode(JSON.stringify(goodClaims()))}`;
    await assertUnauthenticated(
      verifier.verify(
        `${protoSigned}.${sign(null, Buffer.from(protoSigned), signing.privateKey).toString('base64url')}`,
      ),
    );
    await assertUnauthenticated(verifier.verify(craft({ ...header, typ: 'jwt' }, goodClaims())));
  });

  it('when the claims are not UTF-8, then 401 (jose decoded them strictly too)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'k1' })).toString('base64url');
    const claims = Buffer.concat([
      Buffer.from(JSON.stringify(goodClaims()).slice(0, -1)),
      Buffer.from(',"x":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]).toString('base64url');
    const signed = `${header}.${claims}`;
    await assertUnauthenticated(
      verifier.verify(
        `${signed}.${sign(null, Buffer.from(signed), signing.privateKey).toString('base64url')}`,
      ),
    );
  });

  it('when reading an Authorization header, then only a well-formed Bearer token is taken', () => {
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken('Basic dXNlcjpwYXNz'), undefined);
    assert.equal(bearerToken('Bearer '), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
  });
});

describe('caching access token verifier', () => {
  function counting() {
    const calls: string[] = [];
    return {
      calls,
      verifier: {
        async verify(candidate: string) {
          calls.push(candidate);
          return verifier.verify(candidate);
        },
      },
    };
  }

  it('when the same token comes again before it expires, then it is answered without verifying it again', async () => {
    const inner = counting();
    const caching = createCachingAccessTokenVerifier(inner.verifier);
    const value = await token();
    const first = await caching.verify(value);
    assert.deepEqual(await caching.verify(value), first);
    assert.equal(inner.calls.length, 1);
  });

  it('when a remembered token has expired, then it is verified again', async () => {
    const inner = counting();
    let clock = Date.now();
    const caching = createCachingAccessTokenVerifier(inner.verifier, { now: () => clock });
    const value = await token({ expiresIn: '2s' });
    await caching.verify(value);
    clock += 60_000;
    // The inner verifier reads the real clock, so the token still verifies there; what matters is that it was asked.
    await caching.verify(value);
    assert.equal(inner.calls.length, 2);
  });

  it('when a token fails, then the failure is not remembered and a tampered copy of a good token is checked on its own', async () => {
    const inner = counting();
    const caching = createCachingAccessTokenVerifier(inner.verifier);
    const good = await token();
    await caching.verify(good);
    const [header, payload, signature] = good.split('.');
    // A character in the middle: the last one carries only 2 bits of the 64-byte signature,
    // so changing the tail can leave the decoded signature as it was.
    const middle = Math.floor(signature!.length / 2);
    const tampered = `${header}.${payload}.${signature!.slice(0, middle)}${signature![middle] === 'A' ? 'B' : 'A'}${signature!.slice(middle + 1)}`;
    await assertUnauthenticated(caching.verify(tampered));
    await assertUnauthenticated(caching.verify(tampered));
    assert.equal(inner.calls.length, 3);
  });

  it('when a token is looked up without waiting, then only a verified, unexpired one is known', async () => {
    const inner = counting();
    let clock = Date.now();
    const caching = createCachingAccessTokenVerifier(inner.verifier, { now: () => clock });
    const [good, bad] = [await token({ expiresIn: '2s' }), 'not-a-token'];
    assert.equal(caching.cachedClaims(good), undefined, 'never verified');
    const claims = await caching.verify(good);
    assert.deepEqual(caching.cachedClaims(good), claims);
    await assertUnauthenticated(caching.verify(bad));
    assert.equal(caching.cachedClaims(bad), undefined, 'a failure is not remembered');
    clock += 60_000;
    assert.equal(caching.cachedClaims(good), undefined, 'expired');
    assert.equal(inner.calls.length, 2);
  });

  it('when more tokens come than it may hold, then the one not used longest is forgotten', async () => {
    const inner = counting();
    const caching = createCachingAccessTokenVerifier(inner.verifier, { entriesMax: 2 });
    const [a, b, c] = await Promise.all([token(), token(), token()]);
    for (const value of [a, b, c, c, b, a]) await caching.verify(value);
    // a, b, c verified; c and b remembered; a was forgotten when c came, so it is verified again.
    assert.deepEqual(inner.calls, [a, b, c, a]);
  });
});
