import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the current directory. */
export const rootDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Git-ignored: generated development secrets. */
export const secretsDir = join(rootDir, '.nuri');
/** Git-ignored: Kafka jars, broker data, logs and pid files. */
export const cacheDir = join(rootDir, '.cache');
export const kafkaDir = join(cacheDir, 'kafka');
export const pinnedNode = join(rootDir, 'node_modules', 'node', 'bin', 'node');
