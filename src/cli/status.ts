// `npm start` writes the state of every instance here on each change, and
// `npx nuri status` reads it: a file rather than a control socket, so that
// the last known state is still there to read (and to explain) after the
// supervisor itself died.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { secretsDir } from './paths.ts';
import { isProcessAlive } from './process.ts';
import type { InstanceStatus } from './supervisor.ts';

/** Git-ignored with the rest of .nuri/. */
export const statusFile = join(secretsDir, 'run', 'status.json');

export interface SystemStatus {
  supervisorPid: number;
  startedAt: number;
  gatewayUrl: string;
  writtenAt: number;
  instances: InstanceStatus[];
}

export function writeStatus(
  file: string,
  status: Pick<SystemStatus, 'startedAt' | 'gatewayUrl' | 'instances'>,
): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const full: SystemStatus = { supervisorPid: process.pid, writtenAt: Date.now(), ...status };
  // Whole or not at all: a reader never sees half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

export function readStatus(file: string): SystemStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SystemStatus;
  } catch {
    return undefined;
  }
}

/** The table `nuri status` prints; uptimes are counted to `now`. */
export function formatStatus(status: SystemStatus, now: number): string {
  const rows = [['instance', 'service', 'pid', 'port', 'state', 'restarts', 'uptime', 'last exit']];
  for (const instance of status.instances) {
    rows.push([
      instance.name,
      instance.service,
      instance.pid === undefined ? '-' : String(instance.pid),
      String(instance.port),
      instance.state,
      String(instance.restarts),
      instance.startedAt === undefined ? '-' : formatDuration(now - instance.startedAt),
      instance.lastExit === undefined
        ? '-'
        : `${instance.lastExit.signal ?? `code ${instance.lastExit.code}`}, ${formatDuration(now - instance.lastExit.at)} ago`,
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1_000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${String(hours % 24).padStart(2, '0')}h`;
}

/** `nuri status`: 0 when `npm start` runs and every instance is ready, 1 otherwise, 2 when nothing runs. */
export function printStatus(file: string = statusFile): number {
  const status = readStatus(file);
  if (status === undefined || !isProcessAlive(status.supervisorPid)) {
    process.stderr.write(
      status === undefined
        ? 'nuri: nothing is running (no npm start has written a status yet)\n'
        : `nuri: npm start (pid ${status.supervisorPid}) is not running; its last status, from ${new Date(status.writtenAt).toISOString()}:\n`,
    );
    if (status !== undefined) process.stdout.write(formatStatus(status, status.writtenAt));
    return 2;
  }
  process.stdout.write(
    `gateway ${status.gatewayUrl} · npm start pid ${status.supervisorPid}, up ${formatDuration(Date.now() - status.startedAt)}\n`,
  );
  process.stdout.write(formatStatus(status, Date.now()));
  return status.instances.every((instance) => instance.state === 'ready') ? 0 : 1;
}
