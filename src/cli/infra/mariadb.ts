import { mkdirSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { CliError, say } from '../log.ts';
import { hasCommand, run, waitUntil } from '../process.ts';
import { type Component, composeHint, isLocalHost } from './component.ts';

const probeTimeoutMs = 1_500;
const startTimeoutMs = 30_000;
const serverBinaries = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'];

export function mariadbComponent(url: string): Component {
  const parsed = new URL(url);
  return {
    name: 'mariadb',
    address: `${parsed.hostname}:${parsed.port || '3306'}`,
    probe: () => probeMariadb(url),
    async stop() {
      const binary = serverBinaries.find((path) => hasCommand(path));
      if (!binary) return false;
      say('stopping MariaDB (started by nuri)');
      const result = await run(
        'start-stop-daemon',
        ['--stop', '--oknodo', '--retry', '30', '--exec', binary],
        {
          timeoutMs: startTimeoutMs + 5_000,
        },
      );
      return result.code === 0;
    },
    async start() {
      if (!isLocalHost(parsed.hostname)) {
        throw new CliError(
          `MariaDB/MySQL does not answer at ${parsed.host}; it is not local, so nuri will not start it.`,
        );
      }
      await startLocalMariadb();
      if (!(await waitUntil(async () => (await probeMariadb(url)) !== null, startTimeoutMs))) {
        throw new CliError(
          `MariaDB was started but does not answer at ${parsed.host} within ${startTimeoutMs} ms.`,
        );
      }
    },
  };
}

async function probeMariadb(url: string): Promise<string | null> {
  let connection: mysql.Connection | undefined;
  try {
    connection = await mysql.createConnection({ uri: url, connectTimeout: probeTimeoutMs });
    const [rows] = await connection.query('select version() as version');
    const version = (rows as Array<{ version: string }>)[0]?.version ?? '?';
    return /mariadb/i.test(version) ? `MariaDB ${version.replace(/-MariaDB.*$/i, '')}` : `MySQL ${version}`;
  } catch {
    return null;
  } finally {
    await connection?.end().catch(() => undefined);
  }
}

async function startLocalMariadb(): Promise<void> {
  const binary = serverBinaries.find((path) => hasCommand(path));
  if (!binary) {
    throw new CliError(
      `MariaDB is not running and not installed. Install it with \`apt-get install mariadb-server\` (Debian/Ubuntu), ${composeHint}.`,
    );
  }
  say(`starting MariaDB (${binary})`);
  // The Debian server config runs it as the mysql user; its socket directory
  // lives on a tmpfs that a container may not have recreated.
  mkdirSync('/run/mysqld', { recursive: true });
  await run('chown', ['mysql:mysql', '/run/mysqld'], { timeoutMs: 5_000 }).catch(() => undefined);
  const result = await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', binary], {
    timeoutMs: startTimeoutMs,
  });
  if (result.code !== 0) {
    throw new CliError(`could not start MariaDB: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}
