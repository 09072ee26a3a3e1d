// Builds the web console (web/console) into .nuri/web, where the gateway
// serves it from: esbuild bundles the Preact/TypeScript sources of the
// customer console (/) and the operator console (/ops) into one script each,
// beside their HTML and stylesheet. `nuri start`, the test harness and the
// container build all call this, so a fresh clone never misses the step.
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { rootDir, secretsDir } from './paths.ts';

export const webSourceDir = join(rootDir, 'web', 'console');
export const webOutputDir = join(secretsDir, 'web');

/**
 * Builds into a private folder, then moves each file into place with one
 * rename (atomic), so a gateway serving while another run builds never reads
 * half a file.
 */
export async function buildWeb(outputDir: string = webOutputDir): Promise<void> {
  const { build } = await import('esbuild');
  const staging = `${outputDir}.${process.pid}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(join(staging, 'assets'), { recursive: true });
  await build({
    entryPoints: { app: join(webSourceDir, 'src', 'app.tsx'), ops: join(webSourceDir, 'src', 'ops.tsx') },
    outdir: join(staging, 'assets'),
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
    tsconfig: join(webSourceDir, 'tsconfig.json'),
  });
  await copyFile(join(webSourceDir, 'index.html'), join(staging, 'index.html'));
  await copyFile(join(webSourceDir, 'ops.html'), join(staging, 'ops.html'));
  for (const asset of ['console.css', 'favicon.svg'])
    await copyFile(join(webSourceDir, asset), join(staging, 'assets', asset));
  await mkdir(join(outputDir, 'assets'), { recursive: true });
  for (const name of await readdir(join(staging, 'assets')))
    await rename(join(staging, 'assets', name), join(outputDir, 'assets', name));
  for (const name of ['index.html', 'ops.html']) await rename(join(staging, name), join(outputDir, name));
  await rm(staging, { recursive: true, force: true });
}
