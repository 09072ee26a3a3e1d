import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AccessTokenClaims } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import { createCachingVerifier } from '../../src/token-cache.ts';

function countingVerifier(expiresAtMs: number) {
  const calls: string[] = [];
  return {
    calls,
    async verify(token: string): Promise<AccessTokenClaims> {
      calls.push(token);
      if (token === 'bad') throw new AppError('UNAUTHENTICATED', 401);
      return { userUuid: `user-of-${token}`, tokenId: token, expiresAt: new Date(expiresAtMs) };
    },
  };
}

test('when a token verified before is seen again, then its claims come from the cache until it expires', async () => {
  const clock = { now: 1_000 };
  const inner = countingVerifier(5_000);
  const verifier = createCachingVerifier(inner, 10, () => clock.now);
  assert.equal((await verifier.verify('a')).userUuid, 'user-of-a');
  await verifier.verify('a');
  assert.deepEqual(inner.calls, ['a']);
  clock.now = 5_000;
  await verifier.verify('a');
  assert.deepEqual(
    inner.calls,
    ['a', 'a'],
    'an expired entry is verified again (and the verifier rejects it)',
  );
});

test('when a token fails, then it is not cached and fails every time', async () => {
  const inner = countingVerifier(Date.now() + 60_000);
  const verifier = createCachingVerifier(inner, 10);
  await assert.rejects(verifier.verify('bad'), { code: 'UNAUTHENTICATED' });
  await assert.rejects(verifier.verify('bad'), { code: 'UNAUTHENTICATED' });
  assert.deepEqual(inner.calls, ['bad', 'bad']);
});

test('when more tokens than the bound arrive, then the oldest is forgotten', async () => {
  const inner = countingVerifier(Date.now() + 60_000);
  const verifier = createCachingVerifier(inner, 2);
  for (const token of ['a', 'b', 'c', 'b', 'a']) await verifier.verify(token);
  assert.deepEqual(inner.calls, ['a', 'b', 'c', 'a']);
});

test('when a token is looked up without waiting, then only a verified, unexpired one is known', async () => {
  const clock = { now: 1_000 };
  const inner = countingVerifier(5_000);
  const verifier = createCachingVerifier(inner, 10, () => clock.now);
  assert.equal(verifier.cachedClaims('a'), undefined, 'never verified');
  await verifier.verify('a');
  assert.equal(verifier.cachedClaims('a')?.userUuid, 'user-of-a');
  await assert.rejects(verifier.verify('bad'));
  assert.equal(verifier.cachedClaims('bad'), undefined);
  clock.now = 5_000;
  assert.equal(verifier.cachedClaims('a'), undefined, 'expired');
  assert.deepEqual(inner.calls, ['a', 'bad']);
});
