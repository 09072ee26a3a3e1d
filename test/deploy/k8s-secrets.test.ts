import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { freshSecrets, secretManifests } from '../../src/cli/commands/k8s.ts';
import { rootDir } from '../../src/cli/paths.ts';
import { ensureDevSecrets, serviceEnvironment } from '../../src/cli/secrets.ts';
import { services } from '../../src/cli/services.ts';
import { type K8sObject, kubectlPresent, ofKind, overlays, render } from './manifests.ts';
import { schemaErrors } from './schemas.ts';

function printSecrets(overlay: string): K8sObject[] {
  const result = spawnSync(process.execPath, ['bin/nuri.mjs', 'k8s', 'secrets', '--overlay', overlay], {
    cwd: rootDir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return parseAllDocuments(result.stdout).map((document) => document.toJS() as K8sObject);
}

describe('npx nuri k8s secrets', () => {
  it('when printed twice, then each run holds keys of its own, none of them from .nuri/', () => {
    const first = printSecrets('local');
    const second = printSecrets('local');
    const values = (objects: K8sObject[]) =>
      new Set(
        objects
          .flatMap((secret) => Object.values(secret.stringData as Record<string, string>))
          .filter((value) => value.length > 8),
      );
    const development = new Set(Object.values(ensureDevSecrets()));
    assert.deepEqual(
      [...values(first)].filter((value) => values(second).has(value)),
      [],
    );
    assert.deepEqual(
      [...values(first)].filter((value) => development.has(value)),
      [],
    );
  });

  it('then each service gets exactly the share serviceEnvironment hands it, and the operator its tokens', () => {
    const secrets = freshSecrets();
    const objects = parseAllDocuments(secretManifests('hybrid', secrets)).map(
      (document) => document.toJS() as K8sObject,
    );
    for (const service of services) {
      const secret = objects.find((object) => object.metadata.name === `${service.name}-secrets`);
      assert.ok(secret, service.name);
      assert.deepEqual(
        secret.stringData,
        Object.fromEntries(Object.entries(serviceEnvironment(service, secrets)).sort()),
      );
      assert.equal(secret.metadata.namespace, service.zone === 'core' ? 'nuri-core' : 'nuri-channel');
      assert.deepEqual(schemaErrors(secret), []);
    }
    // Nothing a service does not own: no PII key outside core-user, no signing key outside channel-user.
    const holders = (key: string) =>
      objects.filter((object) => key in object.stringData).map((object) => object.metadata.name);
    assert.deepEqual(holders('NURI_PII_KEYS'), ['core-user-secrets']);
    assert.deepEqual(holders('NURI_JWT_SIGNING_KEYS'), ['channel-user-secrets']);
    const operator = objects.find((object) => object.metadata.name === 'nuri-operator')!;
    assert.deepEqual(Object.keys(operator.stringData).sort(), [
      'NURI_ADMIN_TOKEN',
      'NURI_INTERNAL_TOKEN_OPS',
    ]);
  });

  for (const overlay of overlays) {
    it(`then with the ${overlay} overlay's ConfigMaps every service's configuration validates, as its pod would load it`, async (t) => {
      if (!kubectlPresent(t)) return;
      const rendered = render(`overlays/${overlay}`);
      const secrets = printSecrets(overlay);
      for (const service of services) {
        const deployment = ofKind(rendered, 'Deployment').find(
          (object) => object.metadata.name === service.name,
        )!;
        const namespace = deployment.metadata.namespace;
        const configMap = ofKind(rendered, 'ConfigMap').find(
          (object) =>
            object.metadata.name === `${service.name}-config` && object.metadata.namespace === namespace,
        );
        const secret = secrets.find(
          (object) =>
            object.metadata.name === `${service.name}-secrets` && object.metadata.namespace === namespace,
        );
        assert.ok(configMap && secret, `${service.name}: ConfigMap and Secret in ${namespace}`);
        // envFrom: the ConfigMap, then the Secret (the later source wins).
        const env = { ...configMap.data, ...secret.stringData };
        const { loadServiceConfig } = (await import(`../../services/${service.name}/src/config.ts`)) as {
          loadServiceConfig: (env: Record<string, string>) => unknown;
        };
        assert.doesNotThrow(() => loadServiceConfig(env), `${service.name} in ${overlay}`);
      }
    });
  }
});
