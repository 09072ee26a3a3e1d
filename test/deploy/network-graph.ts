// The NetworkPolicies of a rendered overlay evaluated as data: which pod may
// open a TCP connection to which pod (or outside address) on which port,
// following the semantics of networking.k8s.io/v1 — a pod selected by a
// policy of its namespace for a direction is isolated in that direction and
// allows only what some such policy's rules allow; a connection needs the
// source's egress and the destination's ingress.
import { type K8sObject, type LabelSelector, matches, workloads } from './manifests.ts';

export interface Endpoint {
  /** The workload's name (a Deployment, StatefulSet or Job), or the Service an outside address stands behind. */
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** TCP ports the endpoint listens on, by name (pods) or number. */
  ports: Array<{ name?: string; port: number }>;
  /** Outside the cluster (an EndpointSlice address): reached through ipBlocks, no policy of its own. */
  address?: string;
}

export interface Graph {
  pods: Endpoint[];
  outside: Endpoint[];
  /** May `from` open a connection to `to` on `port`? */
  allows(from: Endpoint, to: Endpoint, port: number): boolean;
  /** Every allowed connection as `source → destination:port`, among the given sources and destinations. */
  edges(sources: readonly Endpoint[], destinations: readonly Endpoint[]): Set<string>;
}

interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: PolicyPort[];
}

export function graphOf(objects: readonly K8sObject[], defaultNamespace = 'default'): Graph {
  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const namespace of objects.filter((object) => object.kind === 'Namespace')) {
    namespaceLabels.set(namespace.metadata.name, {
      ...(namespace.metadata.labels ?? {}),
      'kubernetes.io/metadata.name': namespace.metadata.name,
    });
  }
  const labelsOfNamespace = (name: string) =>
    namespaceLabels.get(name) ?? { 'kubernetes.io/metadata.name': name };
  const namespaceOf = (object: K8sObject) => object.metadata.namespace ?? defaultNamespace;

  const pods: Endpoint[] = workloads(objects).map((workload) => {
    const template = workload.spec.template;
    return {
      name: workload.metadata.name,
      namespace: namespaceOf(workload),
      labels: template.metadata?.labels ?? {},
      ports: (template.spec.containers as Array<{ ports?: Array<{ name?: string; containerPort: number }> }>)
        .flatMap((container) => container.ports ?? [])
        .map((port) => ({
          ...(port.name === undefined ? {} : { name: port.name }),
          port: port.containerPort,
        })),
    };
  });
  const outside: Endpoint[] = objects
    .filter((object) => object.kind === 'EndpointSlice')
    .flatMap((slice) =>
      (slice.endpoints as Array<{ addresses: string[] }>).flatMap((endpoint) =>
        endpoint.addresses.map((address) => ({
          name: `${slice.metadata.labels?.['kubernetes.io/service-name'] ?? slice.metadata.name}@${address}`,
          namespace: namespaceOf(slice),
          labels: {},
          address,
          ports: (slice.ports as Array<{ name?: string; port: number }>).map((port) => ({ port: port.port })),
        })),
      ),
    );

  const policies = objects
    .filter((object) => object.kind === 'NetworkPolicy')
    .map((policy) => ({
      namespace: namespaceOf(policy),
      podSelector: policy.spec.podSelector as LabelSelector,
      types: (policy.spec.policyTypes as string[] | undefined) ?? ['Ingress'],
      ingress: (policy.spec.ingress ?? []) as PolicyRule[],
      egress: (policy.spec.egress ?? []) as PolicyRule[],
    }));

  const selecting = (pod: Endpoint, type: 'Ingress' | 'Egress') =>
    policies.filter(
      (policy) =>
        policy.namespace === pod.namespace &&
        policy.types.includes(type) &&
        matches(policy.podSelector, pod.labels),
    );

  const peerMatches = (peer: PolicyPeer, policyNamespace: string, other: Endpoint): boolean => {
    if (peer.ipBlock !== undefined) {
      return (
        other.address !== undefined &&
        inCidr(other.address, peer.ipBlock.cidr) &&
        !(peer.ipBlock.except ?? []).some((cidr) => inCidr(other.address!, cidr))
      );
    }
    if (other.address !== undefined) return false;
    if (peer.namespaceSelector === undefined) {
      return other.namespace === policyNamespace && matches(peer.podSelector, other.labels);
    }
    return (
      matches(peer.namespaceSelector, labelsOfNamespace(other.namespace)) &&
      matches(peer.podSelector, other.labels)
    );
  };

  // A rule's port matches when the destination listens on it: by number, or
  // by the name of one of the destination's ports.
  const portMatches = (ports: PolicyPort[] | undefined, destination: Endpoint, port: number): boolean => {
    if (ports === undefined || ports.length === 0) return true;
    return ports.some((entry) => {
      if ((entry.protocol ?? 'TCP') !== 'TCP') return false;
      if (entry.port === undefined) return true;
      if (typeof entry.port === 'string') {
        return destination.ports.some(
          (listening) => listening.name === entry.port && listening.port === port,
        );
      }
      return entry.endPort === undefined ? entry.port === port : port >= entry.port && port <= entry.endPort;
    });
  };

  const allows = (from: Endpoint, to: Endpoint, port: number): boolean => {
    if (from.address !== undefined) return false;
    const egressPolicies = selecting(from, 'Egress');
    const egressOk =
      egressPolicies.length === 0 ||
      egressPolicies.some((policy) =>
        policy.egress.some(
          (rule) =>
            (rule.to === undefined || rule.to.some((peer) => peerMatches(peer, policy.namespace, to))) &&
            portMatches(rule.ports, to, port),
        ),
      );
    if (!egressOk) return false;
    if (to.address !== undefined) return true;
    const ingressPolicies = selecting(to, 'Ingress');
    return (
      ingressPolicies.length === 0 ||
      ingressPolicies.some((policy) =>
        policy.ingress.some(
          (rule) =>
            (rule.from === undefined ||
              rule.from.some((peer) => peerMatches(peer, policy.namespace, from))) &&
            portMatches(rule.ports, to, port),
        ),
      )
    );
  };

  return {
    pods,
    outside,
    allows,
    edges(sources, destinations) {
      const edges = new Set<string>();
      for (const from of sources) {
        for (const to of destinations) {
          for (const { port } of to.ports) {
            if (allows(from, to, port)) edges.add(`${from.name} → ${to.name}:${port}`);
          }
        }
      }
      return edges;
    },
  };
}

/** A source outside every namespace of the bank: a client on the internet, a load balancer. */
export function outsideClient(): Endpoint {
  return { name: 'internet', namespace: 'ingress-nginx', labels: { app: 'client' }, ports: [] };
}

function inCidr(address: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/') as [string, string | undefined];
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ipv4(address) & mask) >>> 0 === (ipv4(base) & mask) >>> 0;
}

function ipv4(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}
