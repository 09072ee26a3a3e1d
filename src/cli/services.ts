import { join } from 'node:path';
import { rootDir } from './paths.ts';

export type DatabaseKind = 'postgres' | 'mysql';

/** A deployable of services/<name>: how the CLI creates its database and starts it. */
export interface ServiceSpec {
  readonly name: string;
  readonly zone: 'core' | 'channel' | 'edge';
  readonly defaultPort: number;
  /** The environment variable that sets its port. */
  readonly portVariable: string;
  readonly database?: { readonly kind: DatabaseKind; readonly name: string };
}

// Core services first: channel services depend on them, the gateway on all.
export const services: readonly ServiceSpec[] = [
  {
    name: 'core-user',
    zone: 'core',
    defaultPort: 8101,
    portVariable: 'NURI_CORE_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_core_user' },
  },
  {
    name: 'core-payment',
    zone: 'core',
    defaultPort: 8102,
    portVariable: 'NURI_CORE_PAYMENT_PORT',
    database: { kind: 'postgres', name: 'nuri_core_payment' },
  },
  {
    name: 'channel-user',
    zone: 'channel',
    defaultPort: 8201,
    portVariable: 'NURI_CHANNEL_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_channel' },
  },
  {
    name: 'point',
    zone: 'channel',
    defaultPort: 8202,
    portVariable: 'NURI_POINT_PORT',
    database: { kind: 'mysql', name: 'nuri_point' },
  },
  {
    name: 'coupon',
    zone: 'channel',
    defaultPort: 8203,
    portVariable: 'NURI_COUPON_PORT',
    database: { kind: 'mysql', name: 'nuri_coupon' },
  },
  { name: 'gateway', zone: 'edge', defaultPort: 8080, portVariable: 'NURI_GATEWAY_PORT' },
];

export function serviceEntry(service: ServiceSpec, file: 'server.ts' | 'migrate.ts'): string {
  return join(rootDir, 'services', service.name, 'src', file);
}
