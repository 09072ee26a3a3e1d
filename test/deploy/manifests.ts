// Rendering the Kubernetes overlays (deploy/k8s) and reading the objects,
// for the manifest and network-policy tests.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { rootDir } from '../../src/cli/paths.ts';

export const k8sDir = join(rootDir, 'deploy', 'k8s');
export const overlays: readonly string[] = readdirSync(join(k8sDir, 'overlays')).sort();

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form JSON, checked field by field
export type K8sObject = Record<string, any> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/**
 * True when `command` can run; otherwise, under CI, the test fails (CI
 * installs every tool its tests need), elsewhere it is skipped, saying why.
 */
export function toolPresent(t: TestContext, command: string, args: string[], install: string): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  if (result.status === 0) return true;
  const message = `${command} is not installed or does not run (${install})`;
  if (process.env.CI === 'true') throw new Error(`${message}: CI must have it`);
  t.skip(message);
  return false;
}

const rendered = new Map<string, K8sObject[]>();

/** `kubectl kustomize` of an overlay (or any kustomization folder under deploy/k8s), parsed; cached per run. */
export function render(path: string): K8sObject[] {
  const cached = rendered.get(path);
  if (cached !== undefined) return cached;
  const result = spawnSync('kubectl', ['kustomize', join(k8sDir, path)], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 32 * 1_048_576,
  });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${path} failed:\n${result.stderr}`);
  const objects = parseAllDocuments(result.stdout).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    return document.toJS() as K8sObject;
  });
  rendered.set(path, objects);
  return objects;
}

export function kubectlPresent(t: TestContext): boolean {
  return toolPresent(t, 'kubectl', ['version', '--client'], 'kubectl 1.32 with its built-in kustomize');
}

export const workloadKinds = new Set(['Deployment', 'StatefulSet', 'Job']);

export function workloads(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((object) => workloadKinds.has(object.kind));
}

export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}

/** `Deployment nuri-core/core-user`: how a failure names an object. */
export function nameOf(object: K8sObject): string {
  return `${object.kind} ${object.metadata.namespace ?? '-'}/${object.metadata.name}`;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** Kubernetes' label-selector semantics; an empty selector matches everything. */
export function matches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const value = labels[expression.key];
    const values = expression.values ?? [];
    const holds =
      expression.operator === 'In'
        ? value !== undefined && values.includes(value)
        : expression.operator === 'NotIn'
          ? value === undefined || !values.includes(value)
          : expression.operator === 'Exists'
            ? value !== undefined
            : expression.operator === 'DoesNotExist'
              ? value === undefined
              : false;
    if (!holds) return false;
  }
  return true;
}
