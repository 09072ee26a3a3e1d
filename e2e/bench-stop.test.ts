import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
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
// processes behind — during the boot as during a scenario.

const repoRoot = resolve(import.meta.dirname, '..');

/** The databases of a run (`*_e2e_<runId>`) that exist now, in PostgreSQL and MariaDB. */
async function databasesOf(runId: string): Promise<string[]> {
  const config = loadCliConfig();
  const client = new pg.Client({ connectionString: config.NURI_PG_URL });
  await client.connect();
  const connection = await mysql.createConnection(config.NURI_MYSQL_URL);
  try {
    const pattern = `%\\_e2e\\_${runId}`;
    const inPg = await client.query<{ datname: string }>(
      'select datname from pg_database where datname like $1',
      [pattern],
    );
    const [inMysql] = await connection.query<mysql.RowDataPacket[]>(
      'select schema_name as name from information_schema.schemata where schema_name like ?',
      [pattern],
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

/** `nuri bench me` in a process group of its own, as a terminal runs it, with its output collected. */
function startBench(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['bin/nuri.mjs', 'bench', 'me', '--duration', '120', '--runs', '1', '--no-ceilings'],
    { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, output: () => output, exited };
}

async function waitFor(bench: ReturnType<typeof startBench>, pattern: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + 150_000;
  for (;;) {
    const found = pattern.exec(bench.output());
    if (found !== null) return found;
    assert.ok(Date.now() < deadline, `never saw ${pattern}:\n${bench.output().slice(-3_000)}`);
    assert.equal(bench.child.exitCode, null, `the bench ended early:\n${bench.output().slice(-3_000)}`);
    await new Promise((tick) => setTimeout(tick, 100));
  }
}

/** As a terminal's Ctrl-C: SIGINT to every process of the group at once; then the exit code. */
async function interrupt(bench: ReturnType<typeof startBench>): Promise<number | null | 'hung'> {
  process.kill(-bench.child.pid!, 'SIGINT');
  return Promise.race([bench.exited, new Promise<'hung'>((late) => setTimeout(() => late('hung'), 60_000))]);
}

describe('the bench, stopped', { timeout: 300_000 }, () => {
  it('when Ctrl-C comes in the middle of a scenario, then the run stops its system, drops its databases and exits 130 without a report', async () => {
    const bench = startBench();
    try {
      const runId = (await waitFor(bench, /databases \*_e2e_([0-9a-f]+)/))[1]!;
      // In the scenario's first run, its warm-up (run 0).
      await waitFor(bench, /me run 0: \d+ s, /);
      const up = /system up, gateway (\S+), databases (.+)$/m.exec(bench.output());
      assert.ok(up !== null, bench.output().slice(-3_000));
      const gatewayUrl = up[1]!.replace(/,$/, '');
      const databases = await databasesOf(runId);
      assert.deepEqual(databases, up[2]!.split(', ').sort(), 'the run made the databases it named');
      assert.equal(databases.length, 5);
      assert.equal(await listening(gatewayUrl), true);

      assert.equal(await interrupt(bench), 130, bench.output().slice(-3_000));
      assert.match(bench.output(), /SIGINT: stopped/);
      assert.doesNotMatch(bench.output(), /^report: /m, 'a stopped run writes no report');
      assert.deepEqual(await databasesOf(runId), [], 'its databases are gone');
      assert.equal(await listening(gatewayUrl), false, 'its gateway is gone');
    } finally {
      if (bench.child.exitCode === null) process.kill(-bench.child.pid!, 'SIGKILL');
    }
  });

  it('when Ctrl-C comes while the system is still booting, then the boot is finished, stopped and its databases dropped, and it exits 130', async () => {
    const bench = startBench();
    try {
      const runId = (await waitFor(bench, /databases \*_e2e_([0-9a-f]+)/))[1]!;
      // Mid-boot: the databases exist, the services are being started.
      const deadline = Date.now() + 60_000;
      while ((await databasesOf(runId)).length === 0) {
        assert.ok(Date.now() < deadline, `the boot made no database:\n${bench.output().slice(-3_000)}`);
        await new Promise((tick) => setTimeout(tick, 50));
      }
      assert.doesNotMatch(bench.output(), /system up/, 'interrupted before the system was up');

      assert.equal(await interrupt(bench), 130, bench.output().slice(-3_000));
      assert.match(bench.output(), /SIGINT: stopped/);
      assert.doesNotMatch(bench.output(), /me: (warm-up|run 1\/1)/, 'no scenario started after the signal');
      assert.deepEqual(await databasesOf(runId), [], 'its databases are gone');
    } finally {
      if (bench.child.exitCode === null) process.kill(-bench.child.pid!, 'SIGKILL');
    }
  });
});
