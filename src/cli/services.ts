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
  /** The secrets only it receives (src/cli/secrets.ts); no other process sees them. */
  readonly secrets?: readonly string[];
  /** It calls other services' internal routes, with a token of its own (NURI_INTERNAL_TOKEN). */
  readonly callsInternally?: boolean;
  /** Who may call its internal routes (NURI_INTERNAL_CALLERS); which routes each may call is in its code. */
  readonly internalCallers?: readonly string[];
}

// Core services first: channel services depend on them, the gateway on all.
export const services: readonly ServiceSpec[] = [
  {
    name: 'core-user',
    zone: 'core',
    defaultPort: 8101,
    portVariable: 'NURI_CORE_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_core_user', variable: 'NURI_CORE_USER_DB' },
    secrets: ['NURI_PII_KEYS', 'NURI_PII_ACTIVE_KEY_ID', 'NURI_BLIND_INDEX_KEY'],
    internalCallers: ['channel-user'],
  },
  {
    name: 'core-payment',
    zone: 'core',
    defaultPort: 8102,
    portVariable: 'NURI_CORE_PAYMENT_PORT',
    database: { kind: 'postgres', name: 'nuri_core_payment', variable: 'NURI_CORE_PAYMENT_DB' },
    internalCallers: ['channel-user', 'coupon', 'ops'],
  },
  {
    name: 'channel-user',
    zone: 'channel',
    defaultPort: 8201,
    portVariable: 'NURI_CHANNEL_USER_PORT',
    database: { kind: 'postgres', name: 'nuri_channel', variable: 'NURI_CHANNEL_DB' },
    secrets: ['NURI_JWT_SIGNING_KEYS', 'NURI_JWT_ACTIVE_KEY_ID'],
    callsInternally: true,
    internalCallers: ['point', 'ops', 'gateway'],
  },
  {
    name: 'point',
    zone: 'channel',
    defaultPort: 8202,
    portVariable: 'NURI_POINT_PORT',
    database: { kind: 'mysql', name: 'nuri_point', variable: 'NURI_POINT_DB' },
    callsInternally: true,
    internalCallers: ['ops', 'gateway'],
  },
  {
    name: 'coupon',
    zone: 'channel',
    defaultPort: 8203,
    portVariable: 'NURI_COUPON_PORT',
    database: { kind: 'mysql', name: 'nuri_coupon', variable: 'NURI_COUPON_DB' },
    secrets: ['NURI_ADMIN_TOKEN'],
    callsInternally: true,
    internalCallers: ['ops', 'gateway'],
  },
  {
    name: 'gateway',
    zone: 'edge',
    defaultPort: 8080,
    portVariable: 'NURI_GATEWAY_PORT',
    // The operator console's APIs: it checks the admin token itself, and reads
    // the services' reports with a token of its own (read-only routes only).
    secrets: ['NURI_ADMIN_TOKEN'],
    callsInternally: true,
  },
];

export function serviceEntry(service: ServiceSpec, file: 'server.ts' | 'migrate.ts'): string {
  return join(rootDir, 'services', service.name, 'src', file);
}

/** The database a service will use under this environment (its variable, else the default). */
export function databaseNameOf(service: ServiceSpec, env: NodeJS.ProcessEnv): string | undefined {
  if (!service.database) return undefined;
  return env[service.database.variable] || service.database.name;
}
