import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { composeFile, readGraph } from '../../src/cli/commands/compose.ts';
import { ensureDevSecrets } from '../../src/cli/secrets.ts';
import { services } from '../../src/cli/services.ts';

// deploy/compose/system.yaml repeats what src/cli/services.ts and each
// service's config.ts say (ports, variables, who holds which secret): read
// both, fail on drift. The e2e test (e2e/deploy/compose.test.ts) runs it.

interface ComposeService {
  image: string;
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
}
const file = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

describe('deploy/compose/system.yaml', () => {
  it('when a service exists, then it runs its own image, reads only its own env file and is checked for readiness on its port', () => {
    for (const spec of services) {
      const service = file.services[spec.name];
      assert.ok(service, spec.name);
      assert.match(service.image, new RegExp(`^localhost/nuri/${spec.name}:\\$\\{NURI_IMAGE_TAG`));
      assert.deepEqual(service.env_file, [`\${NURI_COMPOSE_ENV_DIR:-../../.nuri/compose}/${spec.name}.env`]);
      const port = spec.name === 'gateway' ? '8090' : String(spec.defaultPort);
      assert.deepEqual(service.healthcheck?.test, [
        'CMD',
        'node',
        'src/cli/deploy/healthcheck.ts',
        port,
        '/health/ready',
      ]);
      assert.equal(service.read_only, true, `${spec.name}: a read-only root`);
      if (spec.database !== undefined) {
        const migrate = file.services[`${spec.name}-migrate`];
        assert.deepEqual(migrate?.command, ['node', 'src/cli/deploy/setup.ts', 'migrate', spec.name]);
        assert.equal(
          service.depends_on?.[`${spec.name}-migrate`]?.condition,
          'service_completed_successfully',
        );
      }
    }
  });

  it('then every variable it sets is one of the service’s own, and none is a secret', async () => {
    const secretNames = new Set([
      ...Object.keys(ensureDevSecrets()),
      'NURI_INTERNAL_TOKEN',
      'NURI_INTERNAL_CALLERS',
    ]);
    for (const spec of services) {
      const { ConfigSchema } = (await import(`../../services/${spec.name}/src/config.ts`)) as {
        ConfigSchema: { properties: Record<string, unknown> };
      };
      for (const name of Object.keys(file.services[spec.name]!.environment ?? {})) {
        assert.ok(!secretNames.has(name), `${spec.name}: ${name} is a secret`);
        // The shared block names every store; a service ignores the ones it does not declare.
        const shared = ['NURI_PG_URL', 'NURI_MYSQL_URL', 'NURI_REDIS_URL', 'NURI_KAFKA_BROKERS'].includes(
          name,
        );
        assert.ok(
          shared || name in ConfigSchema.properties,
          `${spec.name}: ${name} is not one of its variables`,
        );
      }
    }
  });

  it('then only the gateway is published, on loopback only', () => {
    for (const [name, service] of Object.entries(file.services)) {
      if (name !== 'gateway') assert.equal(service.ports, undefined, `${name} is published`);
    }
    for (const port of file.services.gateway!.ports!) assert.match(port, /^127\.0\.0\.1:/);
  });

  it('then the order of depends_on has no cycle and names only services of the file', async () => {
    const graph = await readGraph();
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]) => {
      assert.ok(!visiting.has(name), `a cycle: ${[...path, name].join(' → ')}`);
      if (done.has(name)) return;
      visiting.add(name);
      for (const [dependency] of graph.get(name)!) visit(dependency, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of graph.keys()) visit(name, []);
    assert.equal(done.size, Object.keys(file.services).length);
  });
});
