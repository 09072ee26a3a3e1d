// The container engine the deploy commands drive (`nuri images`, `nuri
// compose`, the deploy tests): podman where it is installed, else a docker
// whose daemon answers. Podman reads the repository's containers.conf
// (CONTAINERS_CONF), which holds the two settings these machines need.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../log.ts';
import { rootDir } from '../paths.ts';
import { hasCommand, type RunResult, run } from '../process.ts';

export const containersDir = join(rootDir, 'deploy', 'containers');
export const containersConf = join(containersDir, 'containers.conf');
export const containerfile = join(containersDir, 'Containerfile');
export const ignoreFile = join(containersDir, 'Containerfile.dockerignore');

/**
 * What `apt-get install --no-install-recommends` brings for every deploy
 * command (Debian 12). Beyond podman itself: catatonit, from which podman
 * builds its pod pause image when no registry has one (kube play, pods), and
 * the dnsname CNI plugin, without which containers of one Compose project
 * cannot find each other by service name.
 */
export const debianPackages = [
  'podman',
  'buildah',
  'runc',
  'mmdebstrap',
  'podman-compose',
  'catatonit',
  'golang-github-containernetworking-plugin-dnsname',
] as const;

/** Where every image this project builds is named: `localhost/nuri/<target>:<tag>`. */
export const imageRepository = 'localhost/nuri';

export interface ContainerEngine {
  readonly name: 'podman' | 'docker';
  /** The environment every call of the engine gets (CONTAINERS_CONF for podman). */
  readonly env: NodeJS.ProcessEnv;
}

/** The engine to use, or why there is none (a sentence naming what to install). */
export function findEngine(): ContainerEngine | { missing: string } {
  if (hasCommand('podman')) {
    return { name: 'podman', env: { ...process.env, CONTAINERS_CONF: containersConf } };
  }
  if (
    hasCommand('docker') &&
    spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0
  ) {
    return { name: 'docker', env: process.env };
  }
  return {
    missing:
      'no container engine: podman is not installed and no docker daemon answers. Install podman with ' +
      `\`apt-get install --no-install-recommends ${debianPackages.join(' ')}\``,
  };
}

export function requireEngine(): ContainerEngine {
  const engine = findEngine();
  if ('missing' in engine) throw new CliError(engine.missing);
  return engine;
}

/** Where each package's program is found (a plugin is no command on PATH). */
const packageProbes: Readonly<Record<string, string>> = {
  'golang-github-containernetworking-plugin-dnsname': '/usr/lib/cni/dnsname',
};

/** The packages (or commands) among `names` that are not installed. */
export function missingTools(names: readonly string[]): string[] {
  return names.filter((name) => {
    const probe = packageProbes[name];
    return probe === undefined ? !hasCommand(name) : !existsSync(probe);
  });
}

/** Runs the engine with output captured (inspect, ps, healthcheck run …). */
export function engineRun(
  engine: ContainerEngine,
  args: string[],
  timeoutMs = 60_000,
  cwd: string = rootDir,
): Promise<RunResult> {
  return run(engine.name, args, { timeoutMs, env: engine.env, cwd });
}

/**
 * Runs a long command with its output passed through to stderr (builds,
 * imports), killed after `timeoutMs`; resolves with its exit code.
 */
export function runShown(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string },
): Promise<number> {
  return new Promise((resolveCode, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? rootDir,
      env: options.env ?? process.env,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveCode(code ?? (signal ? 128 : 1));
    });
  });
}

/** True when the engine has this image locally. */
export async function imageExists(engine: ContainerEngine, image: string): Promise<boolean> {
  const result = await engineRun(engine, ['image', 'inspect', '--format', '{{.Id}}', image]);
  return result.code === 0;
}

/**
 * The tag of images built from this working tree: the commit, with `-dirty`
 * when the tree has uncommitted changes (an image of edited sources is not
 * that commit's).
 */
export function treeTag(): string {
  const commit = git(['rev-parse', '--short=12', 'HEAD']);
  if (commit === undefined) throw new CliError('images are tagged with the commit, and git found none here');
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  return dirty ? `${commit}-dirty` : commit;
}

/** The project's version (package.json): the second tag of every image, the one the manifests name. */
export function projectVersion(): string {
  const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function git(args: string[]): string | undefined {
  const result = spawnSync('git', args, { cwd: rootDir, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function imageName(target: string, tag: string): string {
  return `${imageRepository}/${target}:${tag}`;
}
