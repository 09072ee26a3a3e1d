import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { services } from '../../src/cli/services.ts';
import { kubectlPresent, overlays, render } from './manifests.ts';
import { type Endpoint, type Graph, graphOf, outsideClient } from './network-graph.ts';

// DESIGN.md, "Services" and "Running it", as the issue lists the edges: the
// gateway → the channel services only; channel-user → core-user and
// core-payment; point → channel-user; coupon → core-payment; nothing from
// the gateway to the core. One more is DESIGN.md's too (Login: "channel
// services verify the token again"): coupon → channel-user, for the JWKS
// only (point's edge to channel-user serves the same).
const designEdges = [
  'gateway → channel-user:8201',
  'gateway → point:8202',
  'gateway → coupon:8203',
  'channel-user → core-user:8101',
  'channel-user → core-payment:8102',
  'point → channel-user:8201',
  'coupon → core-payment:8102',
  'coupon → channel-user:8201',
];
// Each service → Kafka where it produces or consumes (the gateway reads lag
// and dead letters for the operator console), and the topics Job.
const kafkaEdges = ['core-payment', 'channel-user', 'point', 'coupon', 'gateway', 'kafka-topics'].map(
  (client) => `${client} → kafka:9092`,
);
// Each service (and its migration Job) → its own database; Redis for coupon and the gateway.
const databaseUsers = {
  postgres: ['core-user', 'core-payment', 'channel-user'],
  mariadb: ['point', 'coupon'],
} as const;
const withMigrations = (names: readonly string[]) => names.flatMap((name) => [name, `${name}-migrate`]);
const inClusterDatabaseEdges = [
  ...withMigrations(databaseUsers.postgres).map((user) => `${user} → postgres:5432`),
  ...withMigrations(databaseUsers.mariadb).map((user) => `${user} → mariadb:3306`),
  'coupon → redis:6379',
  'gateway → redis:6379',
];
// hybrid: the databases are outside the cluster (overlays/hybrid/*/external-databases.yaml).
const externalDatabaseEdges = [
  ...withMigrations(['core-user', 'core-payment']).map((user) => `${user} → postgres@192.0.2.10:5432`),
  ...withMigrations(['channel-user']).map((user) => `${user} → postgres@198.51.100.10:5432`),
  ...withMigrations(databaseUsers.mariadb).map((user) => `${user} → mariadb@198.51.100.20:3306`),
  'coupon → redis@198.51.100.30:6379',
  'gateway → redis@198.51.100.30:6379',
];

const coreServices = services.filter((service) => service.zone === 'core').map((service) => service.name);

function graphOfOverlay(overlay: string): Graph {
  return graphOf(render(`overlays/${overlay}`));
}

const kubeDns: Endpoint = {
  name: 'kube-dns',
  namespace: 'kube-system',
  labels: { 'k8s-app': 'kube-dns' },
  ports: [{ port: 53 }],
};

for (const overlay of overlays) {
  describe(`the network policies of the ${overlay} overlay, evaluated as data`, () => {
    it('when a gateway pod connects to any core pod, on any port, then it is refused', (t) => {
      if (!kubectlPresent(t)) return;
      const graph = graphOfOverlay(overlay);
      const gateways = graph.pods.filter((pod) => pod.labels['app.kubernetes.io/name'] === 'gateway');
      const core = graph.pods.filter((pod) => pod.labels['nuri.bank/zone'] === 'core');
      assert.ok(gateways.length > 0 && core.length >= coreServices.length);
      assert.deepEqual([...graph.edges(gateways, core)], []);
    });

    it('then every edge of DESIGN.md is allowed, and between the pods of the bank nothing else is', (t) => {
      if (!kubectlPresent(t)) return;
      const graph = graphOfOverlay(overlay);
      const expected = [
        ...designEdges,
        ...kafkaEdges,
        ...(overlay === 'local' ? inClusterDatabaseEdges : externalDatabaseEdges),
      ].sort();
      const actual = [...graph.edges(graph.pods, [...graph.pods, ...graph.outside])].sort();
      const missing = expected.filter((edge) => !actual.includes(edge));
      const extra = actual.filter((edge) => !expected.includes(edge));
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
    });

    it('then from outside the bank only the public port of the gateway answers', (t) => {
      if (!kubectlPresent(t)) return;
      const graph = graphOfOverlay(overlay);
      assert.deepEqual([...graph.edges([outsideClient()], graph.pods)], ['internet → gateway:8080']);
    });

    it('then every pod may ask the cluster DNS', (t) => {
      if (!kubectlPresent(t)) return;
      const graph = graphOfOverlay(overlay);
      const refused = graph.pods.filter((pod) => !graph.allows(pod, kubeDns, 53)).map((pod) => pod.name);
      assert.deepEqual(refused, []);
    });

    it('then Prometheus reaches every metrics port where the monitoring component is included, and otherwise only what anyone may', (t) => {
      if (!kubectlPresent(t)) return;
      const objects = render(`overlays/${overlay}`);
      const monitored = objects.some((object) => object.kind === 'PodMonitor');
      const graph = graphOf(objects);
      const prometheus: Endpoint = {
        name: 'prometheus',
        namespace: 'monitoring',
        labels: { 'app.kubernetes.io/name': 'prometheus' },
        ports: [],
      };
      const scraped = [...graph.edges([prometheus], graph.pods)].sort();
      const metricsPorts = services.map((service) =>
        service.name === 'gateway'
          ? 'prometheus → gateway:8090'
          : `prometheus → ${service.name}:${service.defaultPort}`,
      );
      // The gateway's public port is open to everyone, Prometheus included.
      const expected = monitored
        ? [...metricsPorts, 'prometheus → gateway:8080']
        : ['prometheus → gateway:8080'];
      assert.deepEqual(scraped, expected.sort());
    });

    // The callers each service accepts (src/cli/services.ts, internalCallers)
    // are the same edges seen from the other side: every one is allowed. (The
    // gateway used to probe the core and read core-payment's reports itself;
    // it now sees the core through channel-user: services/gateway/src/core-view.ts.)
    it('then every internal caller named in src/cli/services.ts reaches the service that accepts it', (t) => {
      if (!kubectlPresent(t)) return;
      const graph = graphOfOverlay(overlay);
      const podOf = (name: string) =>
        graph.pods.find(
          (pod) =>
            pod.labels['app.kubernetes.io/name'] === name &&
            pod.labels['app.kubernetes.io/component'] === 'server',
        )!;
      const refused: string[] = [];
      for (const service of services) {
        for (const caller of service.internalCallers ?? []) {
          if (caller === 'ops') continue; // the operator's CLI, from outside the cluster (kubectl port-forward)
          if (!graph.allows(podOf(caller), podOf(service.name), service.defaultPort)) {
            refused.push(`${caller} → ${service.name}`);
          }
        }
      }
      assert.deepEqual(refused, []);
    });
  });
}
