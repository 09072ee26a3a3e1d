import assert from 'node:assert/strict';
import { existsSync, globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { imageTargets } from '../../src/cli/commands/images.ts';
import { containerfile, containersConf, ignoreFile } from '../../src/cli/deploy/engine.ts';
import { rootDir } from '../../src/cli/paths.ts';
import { services } from '../../src/cli/services.ts';

// deploy/containers repeats facts that live elsewhere (ports, workspaces,
// entry points): read both, fail on drift.

const text = readFileSync(containerfile, 'utf8').replace(/\\\n/g, ' ');
const stageOf = (target: string): string => {
  const start = text.search(new RegExp(`^FROM \\S+ AS ${target}$`, 'm'));
  assert.ok(start >= 0, `no stage ${target}`);
  const next = text.slice(start + 1).search(/^FROM /m);
  return next < 0 ? text.slice(start) : text.slice(start, start + 1 + next);
};
const workspaces = (
  JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { workspaces: string[] }
).workspaces
  .flatMap((pattern) => globSync(pattern, { cwd: rootDir }))
  .filter((dir) => existsSync(join(rootDir, dir, 'package.json')))
  .sort();

describe('deploy/containers/Containerfile', () => {
  it('when a workspace exists, then its manifest is copied before npm ci, and only the bench is left out of the install', () => {
    const build = stageOf('build');
    for (const workspace of workspaces) {
      assert.match(build, new RegExp(`^COPY ${workspace}/package.json ${workspace}/$`, 'm'), workspace);
    }
    const installed = [...build.matchAll(/--workspace (\S+)/g)].map((match) => match[1]).sort();
    assert.deepEqual(
      installed,
      workspaces.filter((workspace) => workspace !== 'bench'),
    );
    assert.match(build, /npm ci --omit=dev --ignore-scripts/);
  });

  it('then each service has a target that exposes its port, checks its health there and runs its server', () => {
    assert.deepEqual(imageTargets, [...services.map((service) => service.name), 'kafka', 'infra']);
    for (const service of services) {
      const stage = stageOf(service.name);
      const healthPort = service.name === 'gateway' ? 8090 : service.defaultPort;
      assert.match(stage, new RegExp(`^EXPOSE ${service.defaultPort}\\b`, 'm'), service.name);
      assert.match(stage, new RegExp(`"src/cli/deploy/healthcheck.ts", "${healthPort}"`), service.name);
      const entry = `services/${service.name}/src/server.ts`;
      assert.match(stage, new RegExp(`^CMD \\["node", "${entry}"\\]$`, 'm'), service.name);
      assert.ok(existsSync(join(rootDir, entry)), entry);
    }
    assert.match(stageOf('gateway'), /NURI_GATEWAY_OPS_PORT=8090/);
  });

  it('then every image runs as a numeric non-root user, with node as PID 1 in exec form', () => {
    for (const target of ['runtime', 'kafka', 'infra']) {
      const user = /^USER (\d+):(\d+)$/m.exec(stageOf(target));
      assert.ok(user !== null && Number(user[1]) > 0, `${target}: ${user?.[0]}`);
    }
    assert.doesNotMatch(
      text,
      /^(CMD|ENTRYPOINT) [^[]/m,
      'a shell-form CMD would keep SIGTERM from the service',
    );
  });

  it('then the CA bundle is only ever a build secret, and no .nuri secret or test enters the context', () => {
    assert.doesNotMatch(text, /^(COPY|ADD) .*(ca-certificates|\.nuri)/m);
    assert.match(stageOf('build'), /--mount=type=secret,id=ca-certificates/);
    const ignored = readFileSync(ignoreFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'));
    assert.equal(ignored[0], '*', 'an allowlist: everything is left out unless named');
    assert.ok(!ignored.some((line) => line.includes('.nuri')));
    assert.ok(ignored.includes('services/*/test') && ignored.includes('**/node_modules'));
  });

  it('then containers.conf selects runc and asks for limits within what this host allows', () => {
    const conf = readFileSync(containersConf, 'utf8');
    assert.match(conf, /^runtime = "runc"$/m);
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const hardOf = (name: string) => Number(new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1]);
    for (const [name, limit] of [
      ['nofile', 'Max open files'],
      ['nproc', 'Max processes'],
    ] as const) {
      const asked = new RegExp(`"${name}=(\\d+):(\\d+)"`).exec(conf);
      assert.ok(asked !== null, `${name} is set`);
      const hard = hardOf(limit);
      if (Number.isFinite(hard)) assert.ok(Number(asked[2]) <= hard, `${name} ${asked[2]} > host ${hard}`);
    }
  });
});
