import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AccessTokenClaims, AccessTokenVerifier } from '../../src/access-token.ts';
import { AppError } from '../../src/errors.ts';
import {
  createIdentityAsserter,
  createIdentityAssertionCheck,
  createRequestUserVerifier,
  gatewayAssertionCheck,
  identityAssertionHeader,
} from '../../src/identity-assertion.ts';
import { uuidv7 } from '../../src/ids.ts';

const gatewayToken = 'gateway-internal-token-for-this-test-0123456789';
const token = 'header.payload.signature';
const userUuid = uuidv7();
const now = 1_800_000_000_000;
const claims: AccessTokenClaims = { userUuid, tokenId: 'jti-1', expiresAt: new Date(now + 900_000) };

describe('identity assertion', () => {
  const assertion = createIdentityAsserter(gatewayToken)(token, claims);
  const check = createIdentityAssertionCheck(gatewayToken, () => now);

  test('when the gateway vouches for a token, then a service holding its token reads the subject and expiry back', () => {
    assert.deepEqual(check(assertion, token), { userUuid, expiresAt: claims.expiresAt });
  });

  test('when the assertion is for another token, made with another key, altered, or expired, then it does not check out', () => {
    assert.equal(check(assertion, `${token}x`), undefined, 'another token');
    const otherKey = createIdentityAsserter('another-gateway-token-0123456789abcdef')(token, claims);
    assert.equal(check(otherKey, token), undefined, 'another key');
    const otherUser = assertion.replace(userUuid, uuidv7());
    assert.equal(check(otherUser, token), undefined, 'another subject, same tag');
    const [, , expires] = assertion.split('.');
    const longer = assertion.replace(`.${expires}.`, `.${Number(expires) + 3_600_000}.`);
    assert.equal(check(longer, token), undefined, 'a later expiry, same tag');
    const later = createIdentityAssertionCheck(gatewayToken, () => claims.expiresAt.getTime() + 5_001);
    assert.equal(later(assertion, token), undefined, 'expired (past the clock tolerance)');
    const justAfter = createIdentityAssertionCheck(gatewayToken, () => claims.expiresAt.getTime() + 4_000);
    assert.equal(justAfter(assertion, token)?.userUuid, userUuid, 'within the tolerance the token has too');
  });

  test('when a checked assertion comes again, then it is taken from memory only with its own token and only until it expires', () => {
    let clock = now;
    const remembering = createIdentityAssertionCheck(gatewayToken, () => clock, 2);
    assert.equal(remembering(assertion, token)?.userUuid, userUuid);
    assert.equal(remembering(assertion, token)?.userUuid, userUuid, 'remembered');
    assert.equal(remembering(assertion, `${token}x`), undefined, 'remembered, but for its own token only');
    clock = claims.expiresAt.getTime() + 5_001;
    assert.equal(remembering(assertion, token), undefined, 'expired while remembered');
  });

  test('when the gateway vouches for the same token twice, then the same assertion comes back', () => {
    const vouch = createIdentityAsserter(gatewayToken);
    const first = vouch(token, claims);
    assert.equal(vouch(token, claims), first);
    assert.notEqual(
      vouch(`${token}x`, claims),
      first,
      'another token under the same claims is vouched for anew',
    );
  });

  test('when the header is malformed, then it does not check out and nothing throws', () => {
    for (const value of [
      '',
      'v1',
      'v1...',
      `v2.${userUuid}.1.x`,
      `v1.not-a-uuid.1.x`,
      `v1.${userUuid}.soon.x`,
      `${assertion}.more`,
    ]) {
      assert.equal(check(value, token), undefined, value);
    }
  });
});

describe('request user verifier', () => {
  function countingVerifier(): AccessTokenVerifier & { calls: number } {
    return {
      calls: 0,
      async verify(seen) {
        this.calls += 1;
        if (seen !== token) throw new AppError('UNAUTHENTICATED', 401, 'bad token');
        return claims;
      },
    };
  }
  const assertion = createIdentityAsserter(gatewayToken)(token, claims);
  const check = createIdentityAssertionCheck(gatewayToken, () => now);

  test('when the gateway vouched for the token, then the token is not verified again', async () => {
    const verifier = countingVerifier();
    const verify = createRequestUserVerifier(verifier, check);
    const user = await verify(token, { [identityAssertionHeader]: assertion });
    assert.equal(user.userUuid, userUuid);
    assert.equal(verifier.calls, 0);
  });

  test('when there is no assertion, then the token is verified here', async () => {
    const verifier = countingVerifier();
    const verify = createRequestUserVerifier(verifier, check);
    assert.equal((await verify(token, {})).userUuid, userUuid);
    assert.equal(verifier.calls, 1);
    await assert.rejects(verify('forged', {}), (error: AppError) => error.status === 401);
  });

  test('when an assertion does not check out, then 401 without falling back to the token', async () => {
    const verifier = countingVerifier();
    const verify = createRequestUserVerifier(verifier, check);
    const forged = createIdentityAsserter('a-guessed-token-0123456789abcdefghij')(token, claims);
    for (const headers of [
      { [identityAssertionHeader]: forged },
      { [identityAssertionHeader]: [assertion, assertion] },
    ]) {
      await assert.rejects(
        verify(token, headers),
        (error: AppError) => error.status === 401 && error.code === 'UNAUTHENTICATED',
      );
    }
    assert.equal(verifier.calls, 0);
  });

  test('when the service does not hold the gateway token, then the header is ignored and the token verified', async () => {
    const verifier = countingVerifier();
    const verify = createRequestUserVerifier(verifier, gatewayAssertionCheck({ ops: 'x'.repeat(32) }));
    const forged = createIdentityAsserter('a-guessed-token-0123456789abcdefghij')(token, claims);
    assert.equal((await verify(token, { [identityAssertionHeader]: forged })).userUuid, userUuid);
    assert.equal(verifier.calls, 1);
    await assert.rejects(
      verify('forged', { [identityAssertionHeader]: forged }),
      (error: AppError) => error.status === 401,
    );
  });
});
