#!/usr/bin/env node
// The `nuri` launcher. Plain JavaScript on purpose: it must run on whatever
// Node started it (a fresh machine may have Node 20, which cannot run
// TypeScript), install the project's dependencies when asked, and then hand
// over to the TypeScript CLI on the project's pinned Node 24.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const requiredMajor = 24;
const pinnedNode = join(root, 'node_modules', 'node', 'bin', 'node');
const cliEntry = join(root, 'src', 'cli', 'main.ts');

let args = process.argv.slice(2);
if (args[0] === '--install') {
  args = args.slice(1);
  installDependenciesWhenStale();
}

const major = Number(process.versions.node.split('.')[0]);
if (major >= requiredMajor) {
  process.argv = [process.argv[0], cliEntry, ...args];
  await import(cliEntry);
} else if (existsSync(pinnedNode)) {
  runOnPinnedNode();
} else {
  console.error(
    `nuri: Node.js ${requiredMajor} is required (this is ${process.version}). ` +
      'Run `npm install` first: it installs Node 24 into node_modules through the `node` devDependency.',
  );
  process.exit(1);
}

function installDependenciesWhenStale() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const fresh = existsSync(marker) && existsSync(pinnedNode) && mtime(marker) >= mtime(lock);
  if (fresh) return;
  console.error('nuri: installing dependencies (npm install)…');
  // npm_execpath is set when we run under `npm run`; fall back to npm on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, commandArgs] = npmCli
    ? [process.execPath, [npmCli, 'install', '--no-audit', '--no-fund']]
    : ['npm', ['install', '--no-audit', '--no-fund']];
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('nuri: npm install failed; see the output above.');
    process.exit(result.status ?? 1);
  }
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function runOnPinnedNode() {
  const child = spawn(pinnedNode, [cliEntry, ...args], { cwd: process.cwd(), stdio: 'inherit' });
  // Ctrl-C reaches the whole foreground process group, the child included;
  // the launcher only waits so that the child can shut down cleanly.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
