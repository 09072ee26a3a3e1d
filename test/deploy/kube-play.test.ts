import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { freshSecrets } from '../../src/cli/commands/k8s.ts';
import { type ContainerEngine, engineRun, findEngine } from '../../src/cli/deploy/engine.ts';
import { serviceEnvironment } from '../../src/cli/secrets.ts';
import { services } from '../../src/cli/services.ts';
import { buildImages, engineFor, testImageTag } from './containers.ts';
import { type K8sObject, kubectlPresent, render } from './manifests.ts';

// A smoke test with a real runtime: the gateway's Deployment as the local
// overlay renders it, with its ConfigMap and a Secret of fresh values, run by
// `podman kube play` from the image built from this tree (the run's own tag
// in place of the version's).
//
// What it proves: the image starts under the rendered pod spec — the numeric
// non-root user, a read-only root filesystem with only the /tmp emptyDir
// writable, the ConfigMap and Secret through envFrom — and answers
// /health/live on the ops port the probes use; and that SIGTERM (podman's
// stop, as the kubelet's) reaches Node, which drains and exits 0.
// What it does not: podman 4.3's kube play ignores Services, readiness and
// startup probes, resources, topology spread, autoscalers and network
// policies, and nothing else of the bank runs (no Redis, no Kafka, no
// channel services: the gateway is live but not ready). The ops port is
// published on 127.0.0.1 for the test only (a hostPort no manifest has).

const suffix = `nuri-smoke-${process.pid}`;
const podName = `${suffix}-gateway`;
const secretName = `${suffix}-gateway-secrets`;
const volumeName = `${suffix}-tmp`;
const workDir = mkdtempSync(join(tmpdir(), 'nuri-kube-play-'));
let engine: ContainerEngine | undefined;
let hostPort = 0;

describe('podman kube play of the rendered gateway Deployment', () => {
  before(
    async () => {
      // Without podman the test itself says so (and fails under CI).
      const found = findEngine();
      if ('missing' in found || found.name !== 'podman') return;
      hostPort = await freePort();
      await buildImages(['gateway'], 'kube-play-build.log');
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    if (engine === undefined) return;
    await engineRun(engine, ['pod', 'rm', '--force', '--time', '5', `${podName}-pod-0`]);
    await engineRun(engine, ['secret', 'rm', secretName]);
    await engineRun(engine, ['volume', 'rm', '--force', volumeName]);
    rmSync(workDir, { recursive: true, force: true });
  });

  it('when played, then /health/live answers 200 on the ops port, as the non-root user, on a read-only root', async (t) => {
    if (!kubectlPresent(t)) return;
    engine = engineFor(t);
    if (engine === undefined) return;
    if (engine.name !== 'podman') {
      t.skip('kube play is podman’s');
      return;
    }
    const manifest = join(workDir, 'gateway.yaml');
    writeFileSync(manifest, podmanManifest(render('overlays/local')));
    await createSecret(engine);
    const played = await engineRun(engine, ['kube', 'play', manifest], 180_000);
    assert.equal(played.code, 0, played.stderr);
    const container = `${podName}-pod-0-gateway`;

    const status = await waitForLive(hostPort, 60_000);
    assert.equal(status, 200, `no 200 from /health/live within 60 s: ${await logsOf(engine, container)}`);
    const inspected = await engineRun(engine, [
      'inspect',
      '--format',
      '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}',
      container,
    ]);
    assert.equal(inspected.stdout.trim(), '10001:10001 true');
    const write = await engineRun(engine, [
      'exec',
      container,
      'node',
      '-e',
      "require('fs').writeFileSync('/app/x','')",
    ]);
    assert.notEqual(write.code, 0, 'the root filesystem took a write');
    const tmpWrite = await engineRun(engine, [
      'exec',
      container,
      'node',
      '-e',
      "require('fs').writeFileSync('/tmp/x','')",
    ]);
    assert.equal(tmpWrite.code, 0, tmpWrite.stderr);
  });

  it('when stopped, then SIGTERM reaches Node, which drains and exits 0', async (t) => {
    if (engine === undefined || engine.name !== 'podman' || hostPort === 0) {
      t.skip('the pod was not played');
      return;
    }
    const container = `${podName}-pod-0-gateway`;
    const stopped = await engineRun(engine, ['pod', 'stop', '--time', '20', `${podName}-pod-0`], 60_000);
    assert.equal(stopped.code, 0, stopped.stderr);
    const exit = await engineRun(engine, ['inspect', '--format', '{{.State.ExitCode}}', container]);
    assert.equal(exit.stdout.trim(), '0');
    assert.match(await logsOf(engine, container), /"reason":"SIGTERM".*draining|shutdown complete/s);
  });
});

/**
 * The gateway's Deployment and ConfigMap with what podman needs to run them
 * side by side with anything else: names of their own, the Secret under a
 * name of its own, and the ops port published on loopback.
 */
function podmanManifest(objects: readonly K8sObject[]): string {
  const deployment = structuredClone(
    objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'gateway')!,
  );
  const configMap = structuredClone(
    objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'gateway-config')!,
  );
  deployment.metadata.name = podName;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  // The image this run built (its own tag), whatever else carries the version's tag by now.
  container.image = container.image.replace(/:[^:/]+$/, `:${testImageTag}`);
  const ops = container.ports.find((port: { name: string }) => port.name === 'ops');
  ops.hostIP = '127.0.0.1';
  ops.hostPort = hostPort;
  for (const source of container.envFrom) {
    if (source.secretRef !== undefined) source.secretRef.name = secretName;
  }
  pod.volumes.find((volume: { name: string }) => volume.name === 'tmp').name = volumeName;
  container.volumeMounts.find((mount: { name: string }) => mount.name === 'tmp').name = volumeName;
  return [configMap, deployment].map((object) => stringify(object)).join('---\n');
}

/**
 * Podman 4.3 reads a Secret named by envFrom as a JSON object of base64
 * values (a `kind: Secret` document it does not read back): made so, from
 * the gateway's share of a fresh set.
 */
async function createSecret(engine: ContainerEngine): Promise<void> {
  const gateway = services.find((service) => service.name === 'gateway')!;
  const values = serviceEnvironment(gateway, freshSecrets());
  const file = join(workDir, 'secret.json');
  writeFileSync(
    file,
    JSON.stringify(
      Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, Buffer.from(value!).toString('base64')]),
      ),
    ),
    { mode: 0o600 },
  );
  await engineRun(engine, ['secret', 'rm', secretName]);
  const created = await engineRun(engine, ['secret', 'create', secretName, file]);
  rmSync(file);
  assert.equal(created.code, 0, created.stderr);
}

async function waitForLive(port: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/live`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (response.status === 200) return 200;
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  return undefined;
}

async function logsOf(engine: ContainerEngine, container: string): Promise<string> {
  const logs = await engineRun(engine, ['logs', container]);
  return (logs.stdout + logs.stderr).slice(-3_000);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
