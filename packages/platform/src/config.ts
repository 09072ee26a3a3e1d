import type { Static, TObject } from 'typebox';
import { Value } from 'typebox/value';
import { coerceString } from './coerce.ts';
import { setErrorName } from './errors.ts';

/** Thrown at boot when the environment does not satisfy a service's config schema. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    setErrorName(this, 'ConfigError');
    this.problems = problems;
  }
}

/**
 * Reads the variables named by `schema`'s properties from `env`, applies
 * defaults, converts strings to the declared integer/number/boolean types and
 * validates. The message of a ConfigError names each bad variable and the
 * rule it broke, never its value: values are often secrets.
 */
export function loadConfig<Schema extends TObject>(
  schema: Schema,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Static<Schema> {
  const candidate = pickDeclaredVariables(schema, env);
  Value.Default(schema, candidate);
  const problems = describeProblems(schema, candidate);
  if (problems.length > 0) throw new ConfigError(problems);
  return candidate as Static<Schema>;
}

/**
 * What `loadConfig` would give each variable that has a default when the
 * environment sets none (variables without a default are absent): for tools
 * that run a service's parts as the service would, without its secrets.
 */
export function configDefaults<Schema extends TObject>(schema: Schema): Partial<Static<Schema>> {
  const candidate: Record<string, unknown> = {};
  Value.Default(schema, candidate);
  return candidate as Partial<Static<Schema>>;
}

// An empty variable (`FOO=`) counts as unset so that defaults still apply;
// shells and compose files produce empty values far more often than anyone
// means "the empty string".
function pickDeclaredVariables(schema: TObject, env: Readonly<Record<string, string | undefined>>) {
  const candidate: Record<string, unknown> = {};
  for (const [name, propertySchema] of Object.entries(schema.properties)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    candidate[name] = coerceString(propertySchema, raw);
  }
  return candidate;
}

// Each variable is validated on its own: TypeBox stops collecting errors at
// some failures (a failed union), and an operator fixing one variable per
// restart would rightly be annoyed.
function describeProblems(schema: TObject, candidate: Record<string, unknown>): string[] {
  const required = new Set<string>(schema.required ?? []);
  const problems: string[] = [];
  for (const [name, propertySchema] of Object.entries(schema.properties)) {
    if (!(name in candidate)) {
      if (required.has(name)) problems.push(`${name} is required but not set`);
      continue;
    }
    const messages = new Set<string>();
    for (const error of Value.Errors(propertySchema, candidate[name])) {
      messages.add(describeError(schema, name, error));
    }
    if (messages.size > 0) problems.push(`${name} ${[...messages].join('; ')}`);
  }
  return problems;
}

const typeHints: Readonly<Record<string, string>> = {
  integer: ' (digits with an optional leading minus)',
  number: ' (a decimal number)',
  boolean: ' (true, false, 1 or 0)',
};

function describeError(
  schema: TObject,
  name: string,
  error: { keyword: string; message: string; params: object },
): string {
  const allowed = allowedLiterals(schema.properties[name]);
  if (allowed !== undefined) return `must be one of: ${allowed.join(', ')}`;
  if (error.keyword === 'type')
    return `${error.message}${typeHints[(error.params as { type?: string }).type ?? ''] ?? ''}`;
  return error.message;
}

// A union of literals reports one error per branch; one line listing the
// allowed values says it better.
function allowedLiterals(propertySchema: unknown): unknown[] | undefined {
  const anyOf = (propertySchema as { anyOf?: Array<{ const?: unknown }> } | undefined)?.anyOf;
  if (anyOf === undefined || !anyOf.every((branch) => 'const' in branch)) return undefined;
  return anyOf.map((branch) => branch.const);
}
