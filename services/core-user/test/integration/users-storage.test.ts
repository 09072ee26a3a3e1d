import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { auth, buildTestApp, createTestDatabase, dumpUsersTable, newKeys, selectUsers } from './helpers.ts';

const { database } = await createTestDatabase();
const { app, logLines } = buildTestApp(database, newKeys());

async function register(body: object) {
  const response = await app.inject({
    method: 'POST',
    url: '/internal/v1/users',
    headers: auth,
    payload: body,
  });
  return { status: response.statusCode, body: response.json() as { userUuid: string } };
}

function read(userUuid: string) {
  return app.inject({ url: `/internal/v1/users/${userUuid}`, headers: auth });
}

/** Every spelling in which a value could sit in a dump: as typed, normalised, UTF-8 hex (bytea prints as hex). */
function spellings(...values: string[]): string[] {
  return values.flatMap((value) => [value, Buffer.from(value, 'utf8').toString('hex')]);
}

describe('users table at rest', () => {
  it('when people are registered, then a dump of every column holds no name, RRN or phone in any spelling', async () => {
    const people = [
      { name: '홍길동', rrn: '900101-1234567', phone: '010-1234-5678' },
      { name: 'Mary Jane Watson', rrn: '870412-6234567', phone: '01198765432' },
    ];
    for (const person of people) assert.equal((await register(person)).status, 201);
    const dump = await dumpUsersTable(database);
    assert.equal(dump.split('\n').length, 2);
    const forbidden = spellings(
      '홍길동',
      'Mary Jane Watson',
      'Watson',
      '900101-1234567',
      '9001011234567',
      '1234567',
      '870412-6234567',
      '8704126234567',
      '010-1234-5678',
      '01012345678',
      '12345678',
      '01198765432',
      '98765432',
    );
    for (const value of forbidden) assert.equal(dump.includes(value), false, `the dump contains ${value}`);
  });

  it('when a stored ciphertext has one byte flipped, then reading that user fails with a bare 500 and nothing leaks', async () => {
    const { body } = await register({ name: '김민준', rrn: '030303-3234567', phone: '010-3333-4444' });
    // Byte 20 lies in the nonce/ciphertext, past the header of a 2-character key id.
    await sql`update users set name_ciphertext = overlay(name_ciphertext placing set_byte('\\x00'::bytea, 0, get_byte(name_ciphertext, 20) # 1) from 21 for 1) where user_uuid = ${body.userUuid}`.execute(
      database.db,
    );
    logLines.length = 0;
    const response = await read(body.userUuid);
    assert.equal(response.statusCode, 500);
    assert.equal(response.json().code, 'INTERNAL_ERROR');
    assert.equal(response.body.includes('ciphertext'), false, 'no internals in the answer');
    const logs = logLines.join('');
    assert.match(logs, /does not authenticate/, 'the failure is logged for operators');
    for (const value of ['김민준', '0303033234567', '030303-3234567', '01033334444'])
      assert.equal(logs.includes(value), false);
  });

  it('when a ciphertext is copied onto another user, then reading that user fails (AAD binds it to its userUuid)', async () => {
    const source = await register({ name: '이서연', rrn: '040404-4234567' });
    const target = await register({ name: '박지훈', rrn: '050505-3234567' });
    await sql`update users set name_ciphertext = (select name_ciphertext from users where user_uuid = ${source.body.userUuid}) where user_uuid = ${target.body.userUuid}`.execute(
      database.db,
    );
    assert.equal((await read(target.body.userUuid)).statusCode, 500);
    assert.equal((await read(source.body.userUuid)).statusCode, 200);
  });

  it('when a ciphertext is moved to another column of the same user, then reading fails (AAD binds it to its field)', async () => {
    const { body } = await register({ name: '최유나', rrn: '060606-4234567', phone: '010-6666-7777' });
    await sql`update users set phone_ciphertext = rrn_ciphertext where user_uuid = ${body.userUuid}`.execute(
      database.db,
    );
    assert.equal((await read(body.userUuid)).statusCode, 500);
  });

  it('when 10 registrations of one person race, then all get the same userUuid and exactly one row exists', async () => {
    const person = { name: '동시성', rrn: '770707-1234567', phone: '010-7070-7070' };
    const before = (await selectUsers(database)).length;
    // Ten: more than that within an hour is refused (429) per RRN.
    const results = await Promise.all(Array.from({ length: 10 }, () => register(person)));
    const userUuids = new Set(results.map((result) => result.body.userUuid));
    assert.equal(userUuids.size, 1);
    const statuses = results.map((result) => result.status);
    assert.equal(statuses.filter((status) => status === 201).length, 1);
    assert.equal(statuses.filter((status) => status === 200).length, 9);
    const rows = await selectUsers(database);
    assert.equal(rows.length, before + 1);
    assert.ok(rows.some((row) => userUuids.has(row.user_uuid)));
  });
});
