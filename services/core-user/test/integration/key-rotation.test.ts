import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildUserService } from '../../src/app.ts';
import { envelopeKeyId } from '../../src/crypto/pii-cipher.ts';
import {
  auth,
  buildTestApp,
  createTestDatabase,
  internalToken,
  type Keys,
  newKey,
  newKeys,
  pgServerUrl,
  selectUsers,
} from './helpers.ts';

const runFile = promisify(execFile);

const people = [
  { name: '홍길동', rrn: '900101-1234567', phone: '010-1234-5678' },
  { name: '남궁민수', rrn: '010101-4234567' },
  { name: 'Ada Lovelace', rrn: '751210-6234567', phone: '019-9999-0000' },
  { name: '홍길', rrn: '000229-3234567' },
  { name: '김하나', rrn: '111111-4234567', phone: '017-1111-2222' },
];

async function registerAll(app: ReturnType<typeof buildTestApp>['app']) {
  const answers = [];
  for (const person of people) {
    const response = await app.inject({
      method: 'POST',
      url: '/internal/v1/users',
      headers: auth,
      payload: person,
    });
    assert.equal(response.statusCode, 201);
    // A reservation, as channel-user would make it; the masked values are what the keys must keep readable.
    const { status: _status, ...user } = response.json();
    answers.push(user);
  }
  return answers;
}

async function readAll(app: ReturnType<typeof buildTestApp>['app'], userUuids: string[]) {
  const answers = [];
  for (const userUuid of userUuids) {
    const response = await app.inject({ url: `/internal/v1/users/${userUuid}`, headers: auth });
    assert.equal(response.statusCode, 200, `user ${userUuid}`);
    answers.push(response.json());
  }
  return answers;
}

/** Each row's key id column and the key id inside each of its envelopes. */
async function keyIdsOnDisk(database: Awaited<ReturnType<typeof createTestDatabase>>['database']) {
  const rows = await selectUsers(database);
  return new Set(
    rows.flatMap((row) => [
      row.pii_key_id,
      envelopeKeyId(row.name_ciphertext),
      envelopeKeyId(row.rrn_ciphertext),
      ...(row.phone_ciphertext === null ? [] : [envelopeKeyId(row.phone_ciphertext)]),
    ]),
  );
}

describe('PII key rotation', () => {
  it('when k2 becomes active and the re-encryption runs, then rows move to k2 and stay readable after k1 is removed', async () => {
    const { database } = await createTestDatabase();
    const k1 = newKey();
    const k2 = newKey();
    const original: Keys = { ...newKeys(), piiKeys: `k1:${k1}`, activeKeyId: 'k1' };
    const underK1 = buildTestApp(database, original).app;
    const registered = await registerAll(underK1);
    const userUuids = registered.map((user) => user.userUuid);
    assert.deepEqual(await keyIdsOnDisk(database), new Set(['k1']));

    // Restart with both keys, k2 active: old rows still read; new ones are written under k2.
    const rotated: Keys = { ...original, piiKeys: `k1:${k1},k2:${k2}`, activeKeyId: 'k2' };
    const { app: underBoth, deps } = buildTestApp(database, rotated);
    assert.deepEqual(await readAll(underBoth, userUuids), registered);
    const again = await underBoth.inject({
      method: 'POST',
      url: '/internal/v1/users',
      headers: auth,
      payload: people[0],
    });
    assert.equal(again.statusCode, 200, 'the blind index does not depend on the PII key');

    // Batches of 2 over 5 rows: the walk has to page.
    const result = await buildUserService(deps).reencryptToActiveKey(2);
    assert.deepEqual(result, { moved: people.length, skipped: 0 });
    assert.deepEqual(await keyIdsOnDisk(database), new Set(['k2']));
    assert.deepEqual(await buildUserService(deps).reencryptToActiveKey(2), { moved: 0, skipped: 0 });

    const withoutK1 = buildTestApp(database, { ...rotated, piiKeys: `k2:${k2}` }).app;
    assert.deepEqual(await readAll(withoutK1, userUuids), registered);
  });

  it('when two re-encryption runs overlap, then each row is moved exactly once and every row ends on the active key', async () => {
    const { database } = await createTestDatabase();
    const k1 = newKey();
    const original: Keys = { ...newKeys(), piiKeys: `k1:${k1}`, activeKeyId: 'k1' };
    const registered = await registerAll(buildTestApp(database, original).app);
    const rotated: Keys = { ...original, piiKeys: `k1:${k1},k2:${newKey()}`, activeKeyId: 'k2' };
    const { app, deps } = buildTestApp(database, rotated);

    const [first, second] = await Promise.all([
      buildUserService(deps).reencryptToActiveKey(1),
      buildUserService(deps).reencryptToActiveKey(1),
    ]);
    assert.equal(first!.moved + second!.moved, people.length);
    assert.deepEqual(await keyIdsOnDisk(database), new Set(['k2']));
    assert.deepEqual(
      await readAll(
        app,
        registered.map((user) => user.userUuid),
      ),
      registered,
    );
  });

  it('when the reencrypt script runs with the rotated keyring, then it prints how many rows moved', async () => {
    const { database, name } = await createTestDatabase();
    const k1 = newKey();
    const original: Keys = { ...newKeys(), piiKeys: `k1:${k1}`, activeKeyId: 'k1' };
    const registered = await registerAll(buildTestApp(database, original).app);
    const rotated: Keys = { ...original, piiKeys: `k1:${k1},k2:${newKey()}`, activeKeyId: 'k2' };
    const script = fileURLToPath(new URL('../../src/reencrypt.ts', import.meta.url));
    const env = {
      PATH: process.env.PATH,
      NURI_PG_URL: `${pgServerUrl}/postgres`,
      NURI_CORE_USER_DB: name,
      NURI_INTERNAL_CALLERS: `channel-user=${internalToken}`,
      NURI_PII_KEYS: rotated.piiKeys,
      NURI_PII_ACTIVE_KEY_ID: rotated.activeKeyId,
      NURI_BLIND_INDEX_KEY: rotated.blindIndexKey,
    };
    const { stdout } = await runFile(process.execPath, [script], { env, timeout: 30_000 });
    assert.equal(stdout, `core-user reencrypt: moved ${people.length} rows to key k2\n`);
    assert.deepEqual(await keyIdsOnDisk(database), new Set(['k2']));
    const withoutK1 = buildTestApp(database, { ...rotated, piiKeys: rotated.piiKeys.split(',')[1]! }).app;
    assert.deepEqual(
      await readAll(
        withoutK1,
        registered.map((user) => user.userUuid),
      ),
      registered,
    );

    const rerun = await runFile(process.execPath, [script], { env, timeout: 30_000 });
    assert.equal(rerun.stdout, 'core-user reencrypt: moved 0 rows to key k2\n');
  });

  it('when the keyring lacks a key that rows are under, then the script fails naming the user, not the PII', async () => {
    const { database, name } = await createTestDatabase();
    const original = newKeys();
    const [registered] = await registerAll(buildTestApp(database, original).app);
    const script = fileURLToPath(new URL('../../src/reencrypt.ts', import.meta.url));
    const env = {
      PATH: process.env.PATH,
      NURI_PG_URL: `${pgServerUrl}/postgres`,
      NURI_CORE_USER_DB: name,
      NURI_INTERNAL_CALLERS: `channel-user=${internalToken}`,
      NURI_PII_KEYS: `k2:${newKey()}`,
      NURI_PII_ACTIVE_KEY_ID: 'k2',
      NURI_BLIND_INDEX_KEY: original.blindIndexKey,
    };
    const failure = await runFile(process.execPath, [script], { env, timeout: 30_000 }).then(
      () => assert.fail('expected the script to exit non-zero'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 1);
    assert.match(failure.stderr, /no key k1/);
    assert.ok(failure.stderr.includes(registered.userUuid));
    assert.equal(failure.stderr.includes('9001011234567'), false);
    assert.deepEqual(await keyIdsOnDisk(database), new Set(['k1']), 'nothing was rewritten');
  });
});
