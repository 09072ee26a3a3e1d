import type { InstanceInfo } from '@nuri/platform/http';
import type { UpstreamInstanceState } from '@nuri/platform/upstream';
import { type ServiceName, zoneOf } from '../config.ts';
import { instancesListedMax, type ServiceItem } from './schemas.ts';

// GET /api/v1/admin/services: every service the gateway knows, core ones and
// the gateways included, from the readiness probes the gateway runs anyway to
// balance (upstream.ts): what each instance's last probe said, and which
// process answered it (pid, start, restarts from its /health/ready).

export interface GatewaySelf {
  /** This instance's own address, as its peers list it (its ops port when it has one). */
  url: string;
  process: InstanceInfo;
}

type Instance = ServiceItem['instances'][number];

function instanceOf(state: UpstreamInstanceState): Instance {
  return { url: state.url, state: state.ready ? 'ready' : 'down', ...state.process };
}

function itemOf(service: ServiceName | 'gateway', instances: Instance[]): ServiceItem {
  const listed = instances.slice(0, instancesListedMax);
  return {
    service,
    zone: zoneOf[service],
    ready: instances.filter((instance) => instance.state === 'ready').length,
    total: instances.length,
    instances: listed,
  };
}

/**
 * One item per service, the gateway last. This gateway is ready whatever
 * the probes say (it is answering), and describes itself from its own process.
 */
export function describeServices(
  services: Readonly<Record<ServiceName, readonly UpstreamInstanceState[]>>,
  gateways: readonly UpstreamInstanceState[] | undefined,
  self: GatewaySelf,
): ServiceItem[] {
  const items = (Object.keys(services) as ServiceName[]).map((name) =>
    itemOf(name, services[name].map(instanceOf)),
  );
  const selfInstance: Instance = { url: self.url, state: 'ready', ...self.process };
  const peers = gateways?.map(instanceOf) ?? [];
  const gatewayInstances = peers.some((peer) => peer.url === self.url)
    ? peers.map((peer) => (peer.url === self.url ? selfInstance : peer))
    : [selfInstance, ...peers];
  items.push(itemOf('gateway', gatewayInstances));
  return items;
}
