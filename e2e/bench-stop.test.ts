import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { loadCliConfig } from '../src/cli/config.ts';

// `npm run bench` boots a whole system of its own, with throwaway databases
// and topics. Ctrl-C in the middle of a run (the terminal signals the whole
// process group: the launcher, the suite and its load generator) must stop
// that system and drop what it made, not leave five databases and eight
// processes behind.

const repoRoot = resolve(import.meta.dirname, '..');

async function existingDatabases(names: string[]): Promise<string[]> {
  const config = loadCliConfig();
  const client = new pg.Client({ connectionString: config.NURI_PG_URL });
  await client.connect();
  const connection = await mysql.createConnection(config.NURI_MYSQL_URL);
  try {
    const inPg = await client.query<{ datname: string }>(
      'select datname from pg_database where datname = any($1)',
      [names],
    );
    const [inMysql] = await connection.query<mysql.RowDataPacket[]>(
      'select schema_name as name from information_schema.schemata where schema_name in (?)',
      [names],
    );
    return [...inPg.rows.map((row) => row.datname), ...inMysql.map((row) => String(row.name))].sort();
  } finally {
    await client.end();
    await connection.end();
  }
}

function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((answer) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      answer(true);
    });
    socket.once('error', () => answer(false));
  });
}

describe('the bench, stopped', { timeout: 240_000 }, () => {
  it('when Ctrl-C comes in the middle of a scenario, then the run stops its system, drops its databases and exits 130 without a report', async () => {
    const child = spawn(
      process.execPath,
      ['bin/nuri.mjs', 'bench', 'me', '--duration', '120', '--runs', '1', '--no-ceilings'],
      { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      const deadline = Date.now() + 150_000;
      while (!/me run 1: \d+ s, /.test(output)) {
        assert.ok(Date.now() < deadline, `the scenario never got under way:\n${output.slice(-3_000)}`);
        assert.equal(child.exitCode, null, `the bench ended early:\n${output.slice(-3_000)}`);
        await new Promise((tick) => setTimeout(tick, 250));
      }
      const up = /system up, gateway (\S+), databases (.+)$/m.exec(output);
      assert.ok(up !== null, output.slice(-3_000));
      const gatewayUrl = up[1]!.replace(/,$/, '');
      const databases = up[2]!.split(', ').sort();
      assert.equal(databases.length, 5, up[2]);
      assert.deepEqual(await existingDatabases(databases), databases, 'the run made its databases');
      assert.equal(await listening(gatewayUrl), true);

      // As a terminal's Ctrl-C: SIGINT to every process of the group at once.
      process.kill(-child.pid!, 'SIGINT');
      const code = await Promise.race([
        exited,
        new Promise<'hung'>((late) => setTimeout(() => late('hung'), 60_000)),
      ]);
      assert.equal(code, 130, output.slice(-3_000));
      assert.match(output, /SIGINT: stopped/);
      assert.doesNotMatch(output, /^report: /m, 'a stopped run writes no report');
      assert.deepEqual(await existingDatabases(databases), [], 'its databases are gone');
      assert.equal(await listening(gatewayUrl), false, 'its gateway is gone');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });
});
