// `nuri k8s secrets`: the Secrets the manifests of deploy/k8s name, filled
// from a freshly generated set (never .nuri/secrets.env: a cluster gets keys
// of its own). Each service's Secret holds exactly its share, as
// serviceEnvironment hands it out locally; the operator's tokens go into a
// Secret of their own. Printed to stdout, for `kubectl apply -f -`: nothing
// is written to disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, say } from '../log.ts';
import { ensureDevSecrets, internalTokenVariable, serviceEnvironment } from '../secrets.ts';
import { type ServiceSpec, services } from '../services.ts';

export const k8sUsage = 'usage: nuri k8s secrets [--overlay local|hybrid]';

/** Where each overlay puts a service (deploy/k8s/overlays): one namespace, or one per zone. */
export function namespaceOf(overlay: 'local' | 'hybrid', service: ServiceSpec): string {
  if (overlay === 'local') return 'nuri';
  return service.zone === 'core' ? 'nuri-core' : 'nuri-channel';
}

export function secretNameOf(service: ServiceSpec): string {
  return `${service.name}-secrets`;
}

export async function k8s(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'secrets') throw new CliError(k8sUsage);
  let overlay: 'local' | 'hybrid' = 'local';
  for (let index = 0; index < rest.length; index += 1) {
    const value = rest[index] === '--overlay' ? rest[++index] : rest[index]?.replace(/^--overlay=/, '');
    if (value !== 'local' && value !== 'hybrid') throw new CliError(k8sUsage);
    overlay = value;
  }
  process.stdout.write(secretManifests(overlay, freshSecrets()));
  say(`printed the Secrets of the ${overlay} overlay, from secrets generated just now (not .nuri/)`);
  return 0;
}

/** A new set of every secret, made by the same generators as development's, and left nowhere. */
export function freshSecrets(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'nuri-k8s-secrets-'));
  try {
    return ensureDevSecrets(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function secretManifests(overlay: 'local' | 'hybrid', secrets: Record<string, string>): string {
  const documents = services.map((service) =>
    secretDocument(
      secretNameOf(service),
      namespaceOf(overlay, service),
      service.name,
      serviceEnvironment(service, secrets),
    ),
  );
  // The operator's own: `nuri reconcile` and the console's admin token, kept where the cluster's admins read them.
  const operator = {
    [internalTokenVariable('ops')]: secrets[internalTokenVariable('ops')],
    NURI_ADMIN_TOKEN: secrets.NURI_ADMIN_TOKEN,
  };
  documents.push(
    secretDocument('nuri-operator', overlay === 'local' ? 'nuri' : 'nuri-core', 'operator', operator),
  );
  return documents.join('---\n');
}

function secretDocument(
  name: string,
  namespace: string,
  owner: string,
  values: Readonly<Record<string, string | undefined>>,
): string {
  const entries = Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined);
  if (entries.length === 0) throw new CliError(`no secrets for ${owner}`);
  // JSON strings are valid YAML scalars: no value can break the document.
  const data = entries
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `  ${key}: ${JSON.stringify(value)}\n`)
    .join('');
  return (
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n` +
    `  labels:\n    app.kubernetes.io/name: ${owner}\n    app.kubernetes.io/part-of: nuri-bank\n` +
    `type: Opaque\nstringData:\n${data}`
  );
}
