import { existsSync } from 'node:fs';
import pg from 'pg';
import { CliError, say } from '../log.ts';
import { hasCommand, run, waitUntil } from '../process.ts';
import { type Component, composeHint, isLocalHost } from './component.ts';

const probeTimeoutMs = 1_500;
const startTimeoutMs = 30_000;

export function postgresComponent(url: string): Component {
  const parsed = new URL(url);
  return {
    name: 'postgresql',
    address: `${parsed.hostname}:${parsed.port || '5432'}`,
    probe: () => probePostgres(url),
    async stop() {
      const cluster = await localCluster();
      if (!cluster) return false;
      say(`stopping PostgreSQL cluster ${cluster.join('/')} (started by nuri)`);
      const result = await run('pg_ctlcluster', [...clusterArgs(cluster), 'stop'], {
        timeoutMs: startTimeoutMs,
      });
      return result.code === 0;
    },
    async start() {
      if (!isLocalHost(parsed.hostname)) {
        throw new CliError(
          `PostgreSQL does not answer at ${url.replace(/\/\/[^@]*@/, '//')}; it is not local, so nuri will not start it.`,
        );
      }
      await startLocalPostgres();
      if (!(await waitUntil(async () => (await probePostgres(url)) !== null, startTimeoutMs))) {
        throw new CliError(
          `PostgreSQL was started but does not answer at ${parsed.host} within ${startTimeoutMs} ms.`,
        );
      }
    },
  };
}

async function probePostgres(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: probeTimeoutMs });
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>('show server_version');
    return `PostgreSQL ${result.rows[0]?.server_version ?? '?'}`;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Debian's cluster tools first (pg_lsclusters/pg_ctlcluster), as installed by `apt-get install postgresql`. */
async function startLocalPostgres(): Promise<void> {
  if (!hasCommand('pg_lsclusters')) {
    throw new CliError(
      `PostgreSQL is not running and not installed. Install it with \`apt-get install postgresql\` (Debian/Ubuntu), ${composeHint}.`,
    );
  }
  const cluster = await localCluster();
  if (!cluster) {
    throw new CliError(
      'PostgreSQL is installed but has no cluster: create one with `pg_createcluster 15 main` (Debian).',
    );
  }
  say(`starting PostgreSQL cluster ${cluster.join('/')}`);
  const result = await run('pg_ctlcluster', [...clusterArgs(cluster), 'start'], {
    timeoutMs: startTimeoutMs,
  });
  if (result.code !== 0 && !/already running/i.test(result.stderr)) {
    throw new CliError(
      `pg_ctlcluster could not start PostgreSQL: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
}

/** The first cluster Debian's pg_lsclusters lists, as [version, name]. */
async function localCluster(): Promise<[string, string] | null> {
  if (!hasCommand('pg_lsclusters')) return null;
  const listing = await run('pg_lsclusters', ['--no-header'], { timeoutMs: 10_000 });
  const fields = listing.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((candidate) => candidate.length >= 2 && candidate[0] !== '');
  return fields ? [fields[0]!, fields[1]!] : null;
}

// Inside a container without systemd, pg_ctlcluster must not hand over to systemctl.
function clusterArgs([version, name]: [string, string]): string[] {
  return existsSync('/usr/bin/pg_ctlcluster')
    ? ['--skip-systemctl-redirect', version, name]
    : [version, name];
}
