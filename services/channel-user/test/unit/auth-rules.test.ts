import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createAccessTokenIssuer, hashRefreshToken, newRefreshToken } from '../../src/auth/access-tokens.ts';
import { createPasswordHasher } from '../../src/auth/passwords.ts';

const { hash: hashPassword, verify: verifyPassword } = createPasswordHasher();

import { parseSigningKeys, SigningKeysError } from '../../src/auth/signing-keys.ts';
import { checkAlias } from '../../src/domain/alias.ts';
import { checkPassword } from '../../src/domain/auth.ts';

function ed25519(kid: string): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return `${kid}:${privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64url')}`;
}

test('when passwords are checked, then 10–128 characters with a letter and a digit pass and nothing else', () => {
  for (const good of ['abcdefghi1', 'pässwört12', '비밀번호는열자리야1', `a1${'x'.repeat(126)}`])
    checkPassword(good);
  for (const bad of ['abcdefgh1', 'abcdefghij', '1234567890', `a1${'x'.repeat(127)}`, '']) {
    assert.throws(() => checkPassword(bad), { code: 'VALIDATION_FAILED' }, bad);
  }
});

test('when a password is hashed, then it is argon2id with OWASP parameters and verifies only itself', async () => {
  const hash = await hashPassword('correct-horse-1');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword(hash, 'correct-horse-1'), true);
  assert.equal(await verifyPassword(hash, 'correct-horse-2'), false);
  assert.equal(await verifyPassword(undefined, 'correct-horse-1'), false);
  assert.equal(await verifyPassword('not a phc string', 'x'), false);
});

test('when the keyring lists several keys, then the active one signs and all are published', async () => {
  const keyring = parseSigningKeys(`${ed25519('old')},${ed25519('new')}`, 'new');
  const issuer = createAccessTokenIssuer(keyring, 900);
  assert.deepEqual(
    issuer.jwks().keys.map((key) => key.kid),
    ['old', 'new'],
  );
  const { token } = await issuer.issue('01890a5d-ac96-774b-bcce-b302099a8057');
  assert.equal(decodeProtectedHeader(token).kid, 'new');
  assert.equal(decodeJwt(token).sub, '01890a5d-ac96-774b-bcce-b302099a8057');
  const claims = await issuer.verifier.verify(token);
  assert.equal(claims.userUuid, '01890a5d-ac96-774b-bcce-b302099a8057');
});

test('when the keyring is wrong, then the error names the variable', () => {
  assert.throws(
    () => parseSigningKeys(ed25519('k1'), 'k2'),
    (error: unknown) => {
      return error instanceof SigningKeysError && error.variable === 'NURI_JWT_ACTIVE_KEY_ID';
    },
  );
  assert.throws(() => parseSigningKeys('k1:AAAA', 'k1'), SigningKeysError);
  assert.throws(() => parseSigningKeys(`${ed25519('k1')},${ed25519('k1')}`, 'k1'), SigningKeysError);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ec = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64url');
  assert.throws(() => parseSigningKeys(`k1:${ec}`, 'k1'), /not an Ed25519 key/);
});

test('when refresh tokens are made, then they carry 256 random bits and are stored as a 32-byte hash', () => {
  const token = newRefreshToken();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(newRefreshToken(), token);
  assert.equal(hashRefreshToken(token).length, 32);
  assert.deepEqual(hashRefreshToken(token), hashRefreshToken(token));
});

test('when an alias is checked, then 1–30 characters once trimmed pass', () => {
  assert.equal(checkAlias(undefined), undefined);
  assert.equal(checkAlias(' 월급 '), ' 월급 ');
  for (const bad of ['', '   ', 'x'.repeat(31)])
    assert.throws(() => checkAlias(bad), { code: 'VALIDATION_FAILED' });
});
