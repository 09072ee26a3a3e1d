// Where `npm start` keeps what every instance prints, beside the console:
// one file per instance under .nuri/logs/ (git-ignored), JSON lines as the
// service wrote them (pino, already redacted). `nuri trace` reads them back.
// Each file is capped: past `fileBytesMax` it becomes `<name>.log.1` (the
// previous .1 is dropped) and a new one starts, so a long run keeps the last
// 2 × 64 MiB per instance and never fills the disk.
import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { secretsDir } from './paths.ts';

export const logDir = join(secretsDir, 'logs');
const fileBytesMax = 64 * 1_048_576;

/** `coupon#2` → `coupon-2.log`. */
export function logFileOf(instance: string): string {
  return `${instance.replaceAll('#', '-')}.log`;
}

export interface InstanceLogs {
  write(instance: string, line: string): void;
  close(): Promise<void>;
}

/**
 * Appends each line synchronously: a line is a few hundred bytes and the
 * page cache absorbs it, and a synchronous write cannot be lost when the
 * CLI exits on a signal.
 */
export function createInstanceLogs(dir: string = logDir): InstanceLogs {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = new Map<string, { fd: number; bytes: number; path: string }>();
  const open = (instance: string) => {
    const path = join(dir, logFileOf(instance));
    const fd = openSync(path, 'a', 0o600);
    const file = { fd, bytes: statSync(path).size, path };
    files.set(instance, file);
    return file;
  };
  return {
    write(instance, line) {
      let file = files.get(instance) ?? open(instance);
      if (file.bytes > fileBytesMax) {
        closeSync(file.fd);
        renameSync(file.path, `${file.path}.1`);
        file = open(instance);
      }
      file.bytes += writeSync(file.fd, `${line}\n`);
    },
    async close() {
      for (const file of files.values()) closeSync(file.fd);
      files.clear();
    },
  };
}
