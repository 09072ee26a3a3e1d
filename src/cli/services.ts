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
  /** Its database: the kind, the default name, and the variable that renames it (tests use throwaway ones). */
  readonly database?: { readonly kind: DatabaseKind; readonly name: string; readonly variable: string };
}

// Core services first: channel services depend on them, the gateway on all.
export const services: readonly ServiceSpec[] = [
  {
    name: 'core-user',
    zone: 'core',
    defaultPort: 8101,
    portVariable: 'NURI_CORE_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_core_user', variable: 'NURI_CORE_USER_DB' },
  },
  {
    name: 'core-payment',
    zone: 'core',
    defaultPort: 8102,
    portVariable: 'NURI_CORE_PAYMENT_PORT',
    database: { kind: 'postgres', name: 'nuri_core_payment', variable: 'NURI_CORE_PAYMENT_DB' },
  },
  {
    name: 'channel-user',
    zone: 'channel',
    defaultPort: 8201,
    portVariable: 'NURI_CHANNEL_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_channel', variable: 'NURI_CHANNEL_DB' },
  },
  {
    name: 'point',
    zone: 'channel',
    defaultPort: 8202,
    portVariable: 'NURI_POINT_PORT',
    database: { kind: 'mysql', name: 'nuri_point', variable: 'NURI_POINT_DB' },
  },
  {
    name: 'coupon',
    zone: 'channel',
    defaultPort: 8203,
    portVariable: 'NURI_COUPON_PORT',
    database: { kind: 'mysql', name: 'nuri_coupon', variable: 'NURI_COUPON_DB' },
  },
  { name: 'gateway', zone: 'edge', defaultPort: 8080, portVariable: 'NURI_GATEWAY_PORT' },
];

export function serviceEntry(service: ServiceSpec, file: 'server.ts' | 'migrate.ts'): string {
  return join(rootDir, 'services', service.name, 'src', file);
}

/** The database a service will use under this environment (its variable, else the default). */
export function databaseNameOf(service: ServiceSpec, env: NodeJS.ProcessEnv): string | undefined {
  if (!service.database) return undefined;
  return env[service.database.variable] || service.database.name;
}
