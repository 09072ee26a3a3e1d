// The container engine for the deploy tests: present (or the test is
// skipped, saying why, except under CI, which installs it), and the images
// of this working tree built once per run, one build at a time.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ContainerEngine, findEngine } from '../../src/cli/deploy/engine.ts';
import { cacheDir, rootDir } from '../../src/cli/paths.ts';

const buildLock = join(cacheDir, 'images', 'test-build.lock');
const buildLockStaleMs = 30 * 60_000;
const buildTimeoutMs = 25 * 60_000;
/** The tests' own tag, so a commit made while they run (or a dirty tree) cannot send them to another image. */
export const testImageTag = 'test';

/** The engine, or undefined after skipping the test (failing it under CI). */
export function engineFor(t: TestContext): ContainerEngine | undefined {
  const engine = findEngine();
  if (!('missing' in engine)) return engine;
  if (process.env.CI === 'true') throw new Error(`${engine.missing}: CI must have it (.ci/run installs it)`);
  t.skip(engine.missing);
  return undefined;
}

/**
 * `nuri images build <targets>` for this working tree (cached layers make a
 * repeat quick), its output into a log under test-artifacts/deploy/. Test
 * files run two at a time: a lock keeps their builds one after the other.
 */
export async function buildImages(targets: readonly string[], log: string): Promise<void> {
  mkdirSync(join(cacheDir, 'images'), { recursive: true });
  const deadline = Date.now() + buildTimeoutMs;
  for (;;) {
    try {
      mkdirSync(buildLock);
      break;
    } catch {
      const age = Date.now() - (statSafe(buildLock) ?? Date.now());
      if (age > buildLockStaleMs) rmSync(buildLock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('another test kept the image build lock too long');
      await sleep(1_000);
    }
  }
  try {
    const logDir = join(rootDir, 'test-artifacts', 'deploy');
    mkdirSync(logDir, { recursive: true });
    const output = openSync(join(logDir, log), 'w');
    const child = spawn(process.execPath, ['bin/nuri.mjs', 'images', 'build', ...targets], {
      cwd: rootDir,
      env: { ...process.env, NURI_IMAGE_TAG: testImageTag },
      stdio: ['ignore', output, output],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), buildTimeoutMs);
    const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? 1)));
    clearTimeout(timer);
    if (code !== 0)
      throw new Error(`nuri images build ${targets.join(' ')} failed: see test-artifacts/deploy/${log}`);
  } finally {
    rmSync(buildLock, { recursive: true, force: true });
  }
}

function statSafe(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
