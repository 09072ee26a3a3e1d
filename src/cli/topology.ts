// How many instances of each service run, on which ports, and what each one
// is told about the others: the local stand-in for replicas and Services of
// Kubernetes. Pure, so it is unit-tested (test/topology.test.ts).
import { CliError } from './log.ts';
import { type ServiceSpec, services } from './services.ts';

/** Instances of one service at most: the ports of instance i are base + 10·i, and ten keep every service's range apart. */
export const instancesMax = 10;
const portStep = 10;

export type Scale = Readonly<Record<string, number>>;

/** Parses `coupon=3,core-payment=2` (from `--scale` or NURI_SCALE); every other service runs once. */
export function parseScale(text: string | undefined): Scale {
  if (text === undefined || text.trim() === '') return {};
  const scale: Record<string, number> = {};
  for (const part of text.split(',')) {
    const match = /^\s*([a-z-]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (match === null) throw new CliError(`--scale wants name=count[,name=count…], not '${part.trim()}'`);
    const [, name, count] = match as unknown as [string, string, string];
    if (!services.some((service) => service.name === name)) {
      throw new CliError(
        `--scale: no service named '${name}' (${services.map((service) => service.name).join(', ')})`,
      );
    }
    const instances = Number(count);
    if (instances < 1 || instances > instancesMax) {
      throw new CliError(`--scale: ${name} wants 1–${instancesMax} instances, not ${count}`);
    }
    scale[name] = instances;
  }
  return scale;
}

export interface InstanceSpec {
  service: ServiceSpec;
  /** 0-based. */
  index: number;
  /** `coupon#2`, or the service's name when it runs once: how logs and `nuri status` name it. */
  name: string;
  /** The port this instance alone listens on: the supervisor probes it there. */
  port: number;
  url: string;
}

export interface Topology {
  instances: InstanceSpec[];
  /** Where clients reach the bank: the gateway's public port (shared by every gateway instance). */
  gatewayUrl: string;
  /** Every service's URL variable listing all its instances: what any caller of a service is told. */
  callerEnvironment: NodeJS.ProcessEnv;
  /** What each instance's environment adds to the common one. */
  environmentOf(instance: InstanceSpec): NodeJS.ProcessEnv;
}

const host = '127.0.0.1';

/**
 * Where a service's instances listen, when not on loopback: the chaos run
 * puts the core zone in a network namespace of its own, reached at the
 * address of its end of a veth pair (chaos/zone.ts). The gateway's public
 * address stays on loopback.
 */
export type Hosts = Readonly<Record<string, string>>;

/** The variable that holds a service's URL for its callers: NURI_CORE_PAYMENT_URL. */
export function urlVariableOf(service: ServiceSpec): string {
  return `NURI_${service.name.toUpperCase().replaceAll('-', '_')}_URL`;
}

/**
 * Lays the instances out from each service's base port (its port variable in
 * `env`, else the default). Instance i of a service listens on base + 10·i.
 * The gateway is the exception: its base port is the public one, shared by
 * every instance (SO_REUSEPORT) when there are several, and each instance has
 * a port of its own from base + 10 up, where it is probed and scraped (the
 * public port answers neither).
 */
export function planTopology(scale: Scale, env: NodeJS.ProcessEnv, hosts: Hosts = {}): Topology {
  const instances: InstanceSpec[] = [];
  for (const service of services) {
    const count = scale[service.name] ?? 1;
    const serviceHost = hosts[service.name] ?? host;
    const base = basePortOf(service, env);
    // Gateways: the public port is shared; each instance's own (ops) port starts at base + 10.
    const firstOwnPort = service.name === 'gateway' ? base + portStep : base;
    for (let index = 0; index < count; index += 1) {
      const port = firstOwnPort + portStep * index;
      instances.push({
        service,
        index,
        name: count === 1 ? service.name : `${service.name}#${index + 1}`,
        port,
        url: `http://${serviceHost}:${port}`,
      });
    }
  }
  const urlsOf = (name: string) =>
    instances
      .filter((instance) => instance.service.name === name)
      .map((instance) => instance.url)
      .join(',');
  // Every caller of a service is given all of its instances (upstream.ts balances over them).
  const shared: NodeJS.ProcessEnv = {};
  for (const service of services) {
    if (service.name !== 'gateway') shared[urlVariableOf(service)] = urlsOf(service.name);
  }
  const gatewayCount = scale.gateway ?? 1;
  const gatewayBase = basePortOf(gatewaySpec(), env);
  return {
    instances,
    gatewayUrl: `http://${host}:${gatewayBase}`,
    callerEnvironment: shared,
    environmentOf(instance) {
      const own: NodeJS.ProcessEnv = { ...shared };
      if (instance.service.name !== 'gateway') {
        own[instance.service.portVariable] = String(instance.port);
        const ownHost = hosts[instance.service.name];
        if (ownHost !== undefined) own.NURI_BIND_HOST = ownHost;
        return own;
      }
      own[instance.service.portVariable] = String(gatewayBase);
      own.NURI_GATEWAY_OPS_PORT = String(instance.port);
      own.NURI_GATEWAY_PEER_URLS = urlsOf('gateway');
      if (gatewayCount > 1) own.NURI_GATEWAY_SHARE_PORT = 'true';
      return own;
    },
  };
}

function gatewaySpec(): ServiceSpec {
  return services.find((service) => service.name === 'gateway')!;
}

function basePortOf(service: ServiceSpec, env: NodeJS.ProcessEnv): number {
  const text = env[service.portVariable];
  if (text === undefined || text === '') return service.defaultPort;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65_535 - portStep * instancesMax) {
    throw new CliError(
      `${service.portVariable} must be a port below ${65_535 - portStep * instancesMax}, not '${text}'`,
    );
  }
  return port;
}

/** Every port the topology listens on, the gateway's shared one included (a test system reserves them all). */
export function portsOf(topology: Topology): number[] {
  const ports = new Set(topology.instances.map((instance) => instance.port));
  ports.add(Number(new URL(topology.gatewayUrl).port));
  return [...ports];
}
