// Validation of a rendered object against the Kubernetes API schema (the
// OpenAPI of the `kubernetes-models` packages, compiled with ajv), and the
// prometheus-operator CRDs for the monitoring component.
import * as prometheusOperator from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as k8s from 'kubernetes-models';
import type { K8sObject } from './manifests.ts';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;
type Group = Record<string, Record<string, unknown>>;

/** `networking.k8s.io` → `networkingK8sIo`, the package's name for an API group; the core group is `v1`. */
function groupKey(group: string): string {
  return group.replace(/\.([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

function modelOf(apiVersion: string, kind: string): ModelClass | undefined {
  if (apiVersion === 'monitoring.coreos.com/v1') {
    return (prometheusOperator as Record<string, unknown>)[kind] as ModelClass | undefined;
  }
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const models = k8s as unknown as Record<string, unknown>;
  const versions = (group === '' ? { v1: models.v1 } : models[groupKey(group!)]) as Group | undefined;
  return versions?.[version!]?.[kind] as ModelClass | undefined;
}

/** The schema's complaints about an object: empty when valid; an unknown kind is a complaint. */
export function schemaErrors(object: K8sObject): string[] {
  const Model = modelOf(object.apiVersion, object.kind);
  if (Model === undefined) return [`no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
}
