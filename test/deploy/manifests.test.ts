import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { prometheusRulesFile, prometheusRulesManifest, ruleFiles } from '../../src/cli/commands/k8s.ts';
import { projectVersion } from '../../src/cli/deploy/engine.ts';
import { prometheusConfig, targetGroupsOf } from '../../src/cli/monitoring.ts';
import { services } from '../../src/cli/services.ts';
import {
  type K8sObject,
  kubectlPresent,
  matches,
  nameOf,
  ofKind,
  overlays,
  render,
  workloads,
} from './manifests.ts';
import { schemaErrors } from './schemas.ts';

// What every overlay of deploy/k8s must hold, checked on the rendered
// objects (what `kubectl apply -k` would send), never on the sources.

// biome-ignore lint/suspicious/noExplicitAny: a pod template as rendered
type PodSpec = Record<string, any>;
// biome-ignore lint/suspicious/noExplicitAny: a container as rendered
type Container = Record<string, any>;

const podSpecOf = (workload: K8sObject): PodSpec => workload.spec.template.spec;
const containersOf = (workload: K8sObject): Container[] => [
  ...(podSpecOf(workload).initContainers ?? []),
  ...podSpecOf(workload).containers,
];
const serviceDeployments = (objects: readonly K8sObject[]) =>
  ofKind(objects, 'Deployment').filter((deployment) =>
    services.some((service) => service.name === deployment.metadata.name),
  );

/** The groups of a rule file of deploy/monitoring/rules, as Prometheus reads them. */
const groupsOf = (file: string): Array<{ name: string }> =>
  (parse(readFileSync(file, 'utf8')) as { groups: Array<{ name: string }> }).groups;

/**
 * The labels the local Prometheus (src/cli/monitoring.ts) gives every target
 * beyond its address: the file-SD labels of an instance, and the job.
 */
function localScrape(): { honorLabels: boolean; labels: string[]; job: string } {
  const [scrape] = (
    parse(prometheusConfig({ targetsFile: 'targets.json' })) as {
      scrape_configs: Array<{ job_name: string; honor_labels: boolean }>;
    }
  ).scrape_configs;
  const [group] = targetGroupsOf(
    [
      {
        name: 'coupon#2',
        service: 'coupon',
        index: 2,
        port: 8084,
        pid: 1,
        state: 'ready',
        restarts: 0,
        startedAt: 0,
        lastExit: undefined,
      },
    ],
    () => '127.0.0.1:8084',
  );
  return {
    honorLabels: scrape!.honor_labels,
    labels: [...Object.keys(group!.labels), 'job'],
    job: scrape!.job_name,
  };
}

/** Every failure as a line naming its object, so one run shows them all. */
function assertNone(problems: string[]): void {
  assert.deepEqual(problems, []);
}

for (const overlay of overlays) {
  describe(`the ${overlay} overlay`, () => {
    const objects = () => render(`overlays/${overlay}`);

    it('when kubectl kustomize renders it, then every object is named, namespaced and unique', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const seen = new Set<string>();
      for (const object of objects()) {
        if (!object.apiVersion || !object.kind || !object.metadata?.name)
          problems.push(JSON.stringify(object));
        if (object.kind !== 'Namespace' && !object.metadata.namespace)
          problems.push(`${nameOf(object)}: no namespace`);
        const key = `${object.apiVersion} ${nameOf(object)}`;
        if (seen.has(key)) problems.push(`${key} twice`);
        seen.add(key);
      }
      assert.ok(objects().length > 40, `only ${objects().length} objects`);
      assertNone(problems);
    });

    it('then every object validates against the Kubernetes API schema', (t) => {
      if (!kubectlPresent(t)) return;
      assertNone(
        objects().flatMap((object) => schemaErrors(object).map((error) => `${nameOf(object)}: ${error}`)),
      );
    });

    it('then every namespace enforces the restricted Pod Security Standard', (t) => {
      if (!kubectlPresent(t)) return;
      const namespaces = ofKind(objects(), 'Namespace');
      assert.ok(namespaces.length > 0);
      assertNone(
        namespaces
          .filter(
            (namespace) => namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted',
          )
          .map(nameOf),
      );
    });

    it('then every pod meets the restricted standard: non-root, no escalation, no capabilities, RuntimeDefault seccomp', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const allowedVolumes = [
        'configMap',
        'csi',
        'downwardAPI',
        'emptyDir',
        'ephemeral',
        'persistentVolumeClaim',
        'projected',
        'secret',
      ];
      for (const workload of workloads(objects())) {
        const pod = podSpecOf(workload);
        const where = nameOf(workload);
        if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${where}: host namespaces`);
        if (pod.securityContext?.runAsUser === 0) problems.push(`${where}: runAsUser 0`);
        for (const volume of pod.volumes ?? []) {
          const type = Object.keys(volume).find((key) => key !== 'name');
          if (!allowedVolumes.includes(type!)) problems.push(`${where}: volume ${volume.name} is ${type}`);
        }
        for (const container of containersOf(workload)) {
          const at = `${where} container ${container.name}`;
          const context = container.securityContext ?? {};
          const runAsNonRoot = context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
          const seccomp = context.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
          if (runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot is not true`);
          if ((context.runAsUser ?? pod.securityContext?.runAsUser) === undefined) {
            problems.push(`${at}: no numeric runAsUser`);
          }
          if (context.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation`);
          if (context.privileged === true) problems.push(`${at}: privileged`);
          if (!(context.capabilities?.drop ?? []).includes('ALL'))
            problems.push(`${at}: capabilities not dropped`);
          const added = (context.capabilities?.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
          if (added.length > 0) problems.push(`${at}: adds ${added.join(', ')}`);
          if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
            problems.push(`${at}: seccomp ${seccomp}`);
          if ((container.ports ?? []).some((port: { hostPort?: number }) => port.hostPort)) {
            problems.push(`${at}: hostPort`);
          }
        }
      }
      assertNone(problems);
    });

    it('then every container has a read-only root filesystem and a writable /tmp of its own', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      for (const workload of workloads(objects())) {
        const emptyDirs = new Set(
          (podSpecOf(workload).volumes ?? [])
            .filter((volume: { emptyDir?: unknown }) => volume.emptyDir !== undefined)
            .map((volume: { name: string }) => volume.name),
        );
        for (const container of containersOf(workload)) {
          const at = `${nameOf(workload)} container ${container.name}`;
          if (container.securityContext?.readOnlyRootFilesystem !== true)
            problems.push(`${at}: writable root`);
          const tmp = (container.volumeMounts ?? []).find(
            (mount: { mountPath: string }) => mount.mountPath === '/tmp',
          );
          if (tmp === undefined || !emptyDirs.has(tmp.name)) problems.push(`${at}: no emptyDir at /tmp`);
        }
      }
      assertNone(problems);
    });

    it('then every container requests CPU and memory and is limited in both', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      for (const workload of workloads(objects())) {
        for (const container of containersOf(workload)) {
          for (const field of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']) {
            const [group, resource] = field.split('.') as [string, string];
            if (container.resources?.[group]?.[resource] === undefined) {
              problems.push(`${nameOf(workload)} container ${container.name}: no ${field}`);
            }
          }
        }
      }
      assertNone(problems);
    });

    it('then no image is untagged or :latest, and each service runs its own image at the project version', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      for (const workload of workloads(objects())) {
        for (const container of containersOf(workload)) {
          const image: string = container.image;
          const tag = /:([^/:@]+)$/.exec(image)?.[1];
          if (tag === undefined || tag === 'latest') problems.push(`${nameOf(workload)}: image ${image}`);
        }
      }
      for (const deployment of serviceDeployments(objects())) {
        const expected = `localhost/nuri/${deployment.metadata.name}:${projectVersion()}`;
        const image = podSpecOf(deployment).containers[0].image;
        if (image !== expected) problems.push(`${nameOf(deployment)}: ${image}, not ${expected}`);
      }
      assertNone(problems);
    });

    it('then every service is probed on its ops endpoints: startup, readiness /health/ready, liveness /health/live', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      for (const deployment of ofKind(objects(), 'Deployment')) {
        const container = podSpecOf(deployment).containers[0];
        const portOf = (probe: { httpGet?: { port: number | string } } | undefined) => {
          const port = probe?.httpGet?.port;
          const declared = (container.ports ?? []).find(
            (candidate: { name?: string; containerPort: number }) =>
              candidate.name === port || candidate.containerPort === port,
          );
          return declared?.containerPort as number | undefined;
        };
        const at = nameOf(deployment);
        if (container.readinessProbe?.httpGet?.path !== '/health/ready') problems.push(`${at}: readiness`);
        if (container.livenessProbe?.httpGet?.path !== '/health/live') problems.push(`${at}: liveness`);
        if (container.startupProbe?.httpGet === undefined) problems.push(`${at}: no startup probe`);
        const ports = [container.readinessProbe, container.livenessProbe, container.startupProbe].map(portOf);
        // The gateway answers /health/* only on its ops port (NURI_GATEWAY_OPS_PORT), never the public one.
        const opsPort = deployment.metadata.name === 'gateway' ? 8090 : serviceSpec(deployment).defaultPort;
        if (!ports.every((port) => port === opsPort))
          problems.push(`${at}: probes on ${ports.join(', ')}, not ${opsPort}`);
      }
      assertNone(problems);
    });

    it('then every Deployment has an autoscaler (autoscaling/v2) and a disruption budget over exactly its pods', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const all = objects();
      for (const deployment of ofKind(all, 'Deployment')) {
        const at = nameOf(deployment);
        const sameNamespace = (object: K8sObject) =>
          object.metadata.namespace === deployment.metadata.namespace;
        const hpas = ofKind(all, 'HorizontalPodAutoscaler').filter(
          (hpa) =>
            sameNamespace(hpa) &&
            hpa.spec.scaleTargetRef.kind === 'Deployment' &&
            hpa.spec.scaleTargetRef.name === deployment.metadata.name,
        );
        if (hpas.length !== 1 || hpas[0]!.apiVersion !== 'autoscaling/v2')
          problems.push(`${at}: ${hpas.length} HPAs`);
        if (deployment.spec.replicas !== undefined)
          problems.push(`${at}: replicas set beside its autoscaler`);
        const labels = deployment.spec.template.metadata.labels;
        const pdbs = ofKind(all, 'PodDisruptionBudget').filter(
          (pdb) => sameNamespace(pdb) && matches(pdb.spec.selector, labels),
        );
        if (pdbs.length !== 1) problems.push(`${at}: ${pdbs.length} disruption budgets`);
        for (const pdb of pdbs) {
          const others = workloads(all).filter(
            (other) =>
              other !== deployment &&
              sameNamespace(other) &&
              matches(pdb.spec.selector, other.spec.template.metadata.labels),
          );
          if (others.length > 0) problems.push(`${nameOf(pdb)} also covers ${others.map(nameOf).join(', ')}`);
        }
      }
      assertNone(problems);
    });

    it('then coupon scales 2–10 (local starts at 1) at 70 % CPU, up at once and down slowly', (t) => {
      if (!kubectlPresent(t)) return;
      const coupon = ofKind(objects(), 'HorizontalPodAutoscaler').find(
        (hpa) => hpa.metadata.name === 'coupon',
      )!;
      assert.equal(coupon.spec.minReplicas, overlay === 'local' ? 1 : 2);
      assert.equal(coupon.spec.maxReplicas, 10);
      assert.deepEqual(coupon.spec.metrics, [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ]);
      assert.equal(coupon.spec.behavior.scaleUp.stabilizationWindowSeconds, 0);
      assert.equal(coupon.spec.behavior.scaleUp.selectPolicy, 'Max');
      assert.equal(coupon.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
      assert.equal(coupon.spec.behavior.scaleDown.selectPolicy, 'Min');
      for (const hpa of ofKind(objects(), 'HorizontalPodAutoscaler')) {
        assert.ok(hpa.spec.maxReplicas >= hpa.spec.minReplicas && hpa.spec.minReplicas >= 1, nameOf(hpa));
        if (overlay !== 'local') assert.ok(hpa.spec.minReplicas >= 2, `${nameOf(hpa)}: fewer than 2 pods`);
      }
    });

    it('then every selector matches its own pod labels, and Deployments spread over nodes and zones', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      for (const workload of workloads(objects())) {
        const labels = workload.spec.template.metadata.labels;
        if (workload.kind !== 'Job' && !matches(workload.spec.selector, labels)) {
          problems.push(`${nameOf(workload)}: selector does not match its template`);
        }
        if (workload.kind !== 'Deployment') continue;
        const keys = (podSpecOf(workload).topologySpreadConstraints ?? [])
          .filter((constraint: { labelSelector: unknown }) =>
            matches(constraint.labelSelector as never, labels),
          )
          .map((constraint: { topologyKey: string }) => constraint.topologyKey);
        for (const key of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) {
          if (!keys.includes(key)) problems.push(`${nameOf(workload)}: not spread by ${key}`);
        }
      }
      assertNone(problems);
    });

    it("then every Service selects one workload's pods on a port they listen on, or names outside endpoints", (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const all = objects();
      for (const service of ofKind(all, 'Service')) {
        const at = nameOf(service);
        if (service.spec.selector === undefined) {
          const slices = ofKind(all, 'EndpointSlice').filter(
            (slice) =>
              slice.metadata.namespace === service.metadata.namespace &&
              slice.metadata.labels?.['kubernetes.io/service-name'] === service.metadata.name,
          );
          if (slices.length === 0) problems.push(`${at}: no selector and no EndpointSlice`);
          continue;
        }
        const selected = workloads(all).filter(
          (workload) =>
            workload.kind !== 'Job' &&
            workload.metadata.namespace === service.metadata.namespace &&
            matches({ matchLabels: service.spec.selector }, workload.spec.template.metadata.labels),
        );
        if (selected.length !== 1) {
          problems.push(`${at}: selects ${selected.length} workloads`);
          continue;
        }
        const ports = podSpecOf(selected[0]!).containers.flatMap(
          (container: Container) => container.ports ?? [],
        );
        for (const port of service.spec.ports) {
          const target = port.targetPort ?? port.port;
          const listening = ports.find(
            (candidate: { name?: string; containerPort: number }) =>
              candidate.name === target || candidate.containerPort === target,
          );
          if (listening === undefined)
            problems.push(`${at}: port ${port.port} targets ${target}, which no container has`);
          else if (listening.containerPort !== port.port) {
            problems.push(`${at}: port ${port.port} but the container listens on ${listening.containerPort}`);
          }
        }
      }
      assertNone(problems);
    });

    it('then every address in a ConfigMap (URLs, brokers) names a Service of the overlay on one of its ports', (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const all = objects();
      const servicePorts = (name: string, namespace: string): number[] | undefined => {
        const service = ofKind(all, 'Service').find(
          (candidate) => candidate.metadata.name === name && candidate.metadata.namespace === namespace,
        );
        return service?.spec.ports.map((port: { port: number }) => port.port);
      };
      for (const configMap of ofKind(all, 'ConfigMap')) {
        for (const [key, value] of Object.entries(configMap.data ?? {}) as Array<[string, string]>) {
          const addresses = key.endsWith('_URL')
            ? value.split(',').map((url) => new URL(url))
            : key === 'NURI_KAFKA_BROKERS'
              ? value.split(',').map((broker) => new URL(`kafka://${broker}`))
              : [];
          for (const address of addresses) {
            const [name, namespace = configMap.metadata.namespace] = address.hostname.split('.');
            const ports = servicePorts(name!, namespace!);
            if (ports === undefined || !ports.includes(Number(address.port))) {
              problems.push(`${nameOf(configMap)} ${key}: ${address.host} is no Service port`);
            }
          }
        }
      }
      for (const kafka of ofKind(all, 'StatefulSet').filter((set) => set.metadata.name === 'kafka')) {
        const advertised = podSpecOf(kafka).containers[0].env.find(
          (variable: { name: string }) => variable.name === 'KAFKA_ADVERTISED_HOST',
        ).value as string;
        const [name, namespace = kafka.metadata.namespace] = advertised.split('.');
        if (servicePorts(name!, namespace!) === undefined)
          problems.push(`kafka advertises ${advertised}, no Service`);
      }
      assertNone(problems);
    });

    it('then each service is configured as src/cli/services.ts and its config.ts say: port, variables, secrets, Jobs', async (t) => {
      if (!kubectlPresent(t)) return;
      const problems: string[] = [];
      const all = objects();
      for (const spec of services) {
        const deployment = ofKind(all, 'Deployment').find(
          (candidate) => candidate.metadata.name === spec.name,
        );
        if (deployment === undefined) {
          problems.push(`${spec.name}: no Deployment`);
          continue;
        }
        const container = podSpecOf(deployment).containers[0];
        const http = container.ports.find((port: { name: string }) => port.name === 'http');
        if (http?.containerPort !== spec.defaultPort)
          problems.push(`${spec.name}: http port ${http?.containerPort}`);
        const sources = (container.envFrom ?? []).map(
          (source: { configMapRef?: { name: string }; secretRef?: { name: string } }) =>
            source.configMapRef?.name ?? `secret:${source.secretRef?.name}`,
        );
        // The Secret comes last: a key there (a database URL with its password) wins over the ConfigMap's.
        if (sources.join(' ') !== `${spec.name}-config secret:${spec.name}-secrets`) {
          problems.push(`${spec.name}: envFrom ${sources.join(', ')}`);
        }
        const configMap = ofKind(all, 'ConfigMap').find(
          (candidate) => candidate.metadata.name === `${spec.name}-config`,
        );
        if (configMap?.data?.[spec.portVariable] !== String(spec.defaultPort)) {
          problems.push(`${spec.name}: ${spec.portVariable} is ${configMap?.data?.[spec.portVariable]}`);
        }
        const { ConfigSchema } = (await import(`../../services/${spec.name}/src/config.ts`)) as {
          ConfigSchema: { properties: Record<string, unknown> };
        };
        for (const key of Object.keys(configMap?.data ?? {})) {
          if (!(key in ConfigSchema.properties))
            problems.push(`${spec.name}: ${key} is not one of its variables`);
        }
        const migration = ofKind(all, 'Job').find((job) => job.metadata.name === `${spec.name}-migrate`);
        if ((migration !== undefined) !== (spec.database !== undefined)) {
          problems.push(
            `${spec.name}: a migration Job ${migration ? 'without' : 'missing for'} its database`,
          );
        }
      }
      assertNone(problems);
    });

    it('then wherever pods are scraped, the rules of deploy/monitoring/rules ship once, one PrometheusRule per rule file with its groups', (t) => {
      if (!kubectlPresent(t)) return;
      const all = objects();
      const rules = ofKind(all, 'PrometheusRule');
      if (ofKind(all, 'PodMonitor').length === 0) {
        assert.deepEqual(
          rules.map(nameOf),
          [],
          'rules for a Prometheus that scrapes nothing of this overlay',
        );
        return;
      }
      const expected = ruleFiles().map((file) => basename(file, '.yml'));
      assert.deepEqual(rules.map((rule) => rule.metadata.name).sort(), expected.sort());
      for (const file of ruleFiles()) {
        const rule = rules.find((candidate) => candidate.metadata.name === basename(file, '.yml'))!;
        assert.deepEqual(rule.spec.groups, groupsOf(file), `${nameOf(rule)} differs from ${file}`);
        const names = rule.spec.groups.map((group: { name: string }) => group.name);
        // The operator makes one rule file of each PrometheusRule, and Prometheus refuses a group name twice in one.
        assert.equal(new Set(names).size, names.length, `${nameOf(rule)}: a group name twice`);
      }
    });

    it('then every service is scraped by one PodMonitor on its metrics port, its targets labelled as the local Prometheus labels them', (t) => {
      if (!kubectlPresent(t)) return;
      const all = objects();
      const podMonitors = ofKind(all, 'PodMonitor');
      // An overlay without the monitoring component (local): the test above holds that it has no rules either.
      if (podMonitors.length === 0) return;
      const local = localScrape();
      const problems: string[] = [];
      for (const podMonitor of podMonitors) {
        for (const endpoint of podMonitor.spec.podMetricsEndpoints) {
          const at = `${nameOf(podMonitor)} port ${endpoint.port}`;
          if (endpoint.honorLabels !== local.honorLabels)
            problems.push(`${at}: honorLabels ${endpoint.honorLabels}`);
          const relabeled = relabelingsOf(endpoint);
          if (Object.keys(relabeled).sort().join(' ') !== [...local.labels].sort().join(' ')) {
            problems.push(`${at}: sets ${Object.keys(relabeled).join(', ')}, not ${local.labels.join(', ')}`);
          }
          // `service` on `up` is then the name each process gives its own series (createMetrics), checked below.
          if (relabeled.service !== 'label:__meta_kubernetes_pod_label_app_kubernetes_io_name') {
            problems.push(`${at}: service from ${relabeled.service}`);
          }
          if (relabeled.nuri_instance !== 'label:__meta_kubernetes_pod_name')
            problems.push(`${at}: nuri_instance from ${relabeled.nuri_instance}`);
          if (relabeled.job !== `value:${local.job}`) problems.push(`${at}: job from ${relabeled.job}`);
        }
      }
      for (const deployment of serviceDeployments(all)) {
        const labels = deployment.spec.template.metadata.labels;
        const scraping = podMonitors.filter(
          (podMonitor) =>
            podMonitor.metadata.namespace === deployment.metadata.namespace &&
            matches(podMonitor.spec.selector, labels),
        );
        const at = nameOf(deployment);
        if (labels['app.kubernetes.io/name'] !== deployment.metadata.name)
          problems.push(`${at}: app.kubernetes.io/name is ${labels['app.kubernetes.io/name']}`);
        if (scraping.length !== 1) {
          problems.push(`${at}: scraped by ${scraping.length} PodMonitors`);
          continue;
        }
        const metricsPort =
          deployment.metadata.name === 'gateway' ? 8090 : serviceSpec(deployment).defaultPort;
        const ports = podSpecOf(deployment).containers[0].ports as Array<{
          name: string;
          containerPort: number;
        }>;
        for (const endpoint of scraping[0]!.spec.podMetricsEndpoints) {
          const port = ports.find((candidate) => candidate.name === endpoint.port)?.containerPort;
          if (port !== metricsPort || endpoint.path !== '/metrics')
            problems.push(`${at}: scraped on ${port}${endpoint.path}, not ${metricsPort}/metrics`);
        }
      }
      assertNone(problems);
    });

    if (overlay === 'hybrid') {
      it('then the core runs in nuri-core on on-premises nodes, the channel in nuri-channel on cloud nodes, Kafka in nuri-kafka', (t) => {
        if (!kubectlPresent(t)) return;
        const problems: string[] = [];
        for (const workload of workloads(objects())) {
          const zone = workload.spec.template.metadata.labels['nuri.bank/zone'];
          const pod = podSpecOf(workload);
          const at = nameOf(workload);
          const expectedNamespace =
            zone === 'core' ? 'nuri-core' : zone === 'kafka' ? 'nuri-kafka' : 'nuri-channel';
          const isKafka = workload.metadata.name === 'kafka' || workload.metadata.name === 'kafka-topics';
          if (workload.metadata.namespace !== (isKafka ? 'nuri-kafka' : expectedNamespace)) {
            problems.push(`${at}: in ${workload.metadata.namespace}`);
          }
          if (zone === 'core') {
            const tolerated = (pod.tolerations ?? []).some(
              (toleration: { key: string; value: string }) =>
                toleration.key === 'nuri.bank/site' && toleration.value === 'on-premises',
            );
            if (pod.nodeSelector?.['nuri.bank/site'] !== 'on-premises' || !tolerated)
              problems.push(`${at}: not on-premises`);
          } else if (!isKafka && pod.nodeSelector?.['nuri.bank/site'] !== 'cloud') {
            problems.push(`${at}: not on cloud nodes`);
          }
        }
        assertNone(problems);
      });
    }
  });
}

describe('deploy/k8s/components/monitoring/rules', () => {
  it('when the rule files change, then prometheus-rules.yaml is what `npx nuri k8s rules` makes of them', () => {
    const checkedIn = readFileSync(prometheusRulesFile, 'utf8');
    assert.ok(
      checkedIn === prometheusRulesManifest(),
      `${prometheusRulesFile} is stale: run npx nuri k8s rules`,
    );
    // The same without the generator: each document's groups are its rule file's, in the file's order.
    const documents = parseAllDocuments(checkedIn).map((document) => document.toJS() as K8sObject);
    assert.deepEqual(
      documents.map((document) => [document.kind, document.metadata.name, document.spec.groups]),
      ruleFiles().map((file) => ['PrometheusRule', basename(file, '.yml'), groupsOf(file)]),
    );
  });
});

/**
 * What each label a scrape endpoint's relabelings set comes from:
 * `label:<source>` (copied) or `value:<replacement>`. Anything else (a
 * regex, a drop, a keep) is keyed by its action and so counts as a label
 * the local Prometheus does not set.
 */
function relabelingsOf(endpoint: {
  relabelings?: Array<{
    action?: string;
    sourceLabels?: string[];
    targetLabel?: string;
    regex?: string;
    replacement?: string;
  }>;
}): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const relabeling of endpoint.relabelings ?? []) {
    const { action = 'replace', sourceLabels, targetLabel, regex, replacement } = relabeling;
    if (action.toLowerCase() !== 'replace' || targetLabel === undefined || regex !== undefined) {
      sources[`(${action})`] = JSON.stringify(relabeling);
    } else if (sourceLabels !== undefined && replacement === undefined) {
      sources[targetLabel] = `label:${sourceLabels.join(';')}`;
    } else {
      sources[targetLabel] = sourceLabels === undefined ? `value:${replacement}` : JSON.stringify(relabeling);
    }
  }
  return sources;
}

function serviceSpec(deployment: K8sObject) {
  const spec = services.find((service) => service.name === deployment.metadata.name);
  if (spec === undefined) throw new Error(`${nameOf(deployment)} is no service of src/cli/services.ts`);
  return spec;
}
