// Request bodies from a route's own schema (the JSON Schema the gateway's
// /openapi.json publishes, generated from the routes' TypeBox schemas), and
// the hostile mutations of them. Bodies are raw text: duplicate keys, numbers
// beyond 2^53, deep nesting and broken JSON cannot be written as objects.
import fc from 'fast-check';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  $ref?: string;
};

/** Values a schema allows (or very nearly: patterns are sampled, formats approximated). */
export function allowedValue(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices !== undefined) return fc.oneof(...choices.map((choice) => allowedValue(choice, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return objectOf(schema, depth);
    case 'array':
      return fc.array(depth > 4 ? fc.constant(null) : allowedValue(schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 5, 5),
      });
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'string':
      return stringOf(schema);
    default:
      return fc.oneof(fc.string(), fc.integer(), fc.constant(null));
  }
}

function objectOf(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) record[name] = allowedValue(property, depth + 1);
  return fc.record(record, { requiredKeys: [...required].filter((name) => name in properties) });
}

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.format === 'date-time')
    return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.pattern !== undefined) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern, 'u'));
    } catch {
      // A pattern fast-check cannot invert: plain strings of the allowed length.
    }
  }
  return fc.string({
    unit: 'grapheme',
    minLength: schema.minLength ?? 0,
    maxLength: Math.min(schema.maxLength ?? 40, 200),
  });
}

// --- hostile values --------------------------------------------------------------

/** Strings that have broken parsers, normalizers and log pipelines before. */
export const hostileStrings: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202Eevil\u202C', // right-to-left override
  '\u200B\u200C\u200D\uFEFF', // zero-width characters, BOM
  '홍길동', // NFC
  '홍길동'.normalize('NFD'), // the same name as jamo
  'José'.normalize('NFD'),
  '👨‍👩‍👧‍👦🏦💸',
  'Z̷̢̛̤̼͕̰̻̞̔͛̈́̈́͌a̴̡̜̜͚̭̒l̷̡̛̬̓g̴̛̮͉͑o̵̜̽̓',
  '\uD800', // a lone surrogate
  '\uDFFF\uD800',
  '900101-1234567', // an RRN shape in a field that is not one
  '010-1234-5678',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, literally
  '${jndi:ldap://x/a}',
  "'; DROP TABLE accounts; --",
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '\r\nX-Injected: 1',
  'null',
  'true',
  '-0',
  '1e309',
];

/** Numbers as JSON text: beyond 2^53, huge, negative, fractions, exponents, negative zero. */
export const hostileNumbers: readonly string[] = [
  '0',
  '-0',
  '-1',
  '0.5',
  '1.0',
  '1e3',
  '1E+2',
  '9007199254740991',
  '9007199254740993',
  '-9007199254740993',
  '18446744073709551616',
  '1e308',
  '1e309',
  '-1e309',
  '4.9e-324',
  '100000001',
  '100000000.0000000001',
  '123456789012345678901234567890',
];

/** A mutation of a valid body: one field made hostile, or the body itself. */
export interface Mutation {
  family: string;
  describe: string;
  body: string;
}

const wrongTypeValues: ReadonlyArray<readonly [string, string]> = [
  ['a string', '"1000"'],
  ['an array', '[1000]'],
  ['an object', '{"value":1000}'],
  ['null', 'null'],
  ['true', 'true'],
  ['a number', '1000'],
  ['an empty object', '{}'],
];

export function mutationOf(schema: JsonSchema): fc.Arbitrary<Mutation> {
  const properties = Object.keys(schema.properties ?? {});
  const field = properties.length === 0 ? fc.constant('amount') : fc.constantFrom(...properties);
  const valid = allowedValue(schema).map((value) =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {},
  );
  const withField = (family: string, values: fc.Arbitrary<readonly [string, string]>) =>
    fc.tuple(valid, field, values).map(([body, name, [describe, text]]) => ({
      family,
      describe: `${name} = ${describe}`,
      body: replaceField(body, name, text),
    }));
  return fc.oneof(
    withField('wrong-type', fc.constantFrom(...wrongTypeValues)),
    withField(
      'numbers',
      fc.constantFrom(...hostileNumbers).map((text) => [text, text] as const),
    ),
    withField(
      'unicode',
      fc
        .constantFrom(...hostileStrings)
        .map((text) => [JSON.stringify(text).slice(0, 40), JSON.stringify(text)] as const),
    ),
    withField(
      'long-string',
      fc
        .integer({ min: 1_000, max: 70_000 })
        .map((length) => [`${length} characters`, JSON.stringify('가'.repeat(length))] as const),
    ),
    withField(
      'deep-nesting',
      fc.integer({ min: 50, max: 20_000 }).map((depth) => [`${depth} levels`, nested(depth)] as const),
    ),
    fc.tuple(valid, field, fc.constantFrom(...hostileNumbers)).map(([body, name, number]) => ({
      family: 'duplicate-keys',
      describe: `${name} twice, the second ${number}`,
      body: `${JSON.stringify(body).slice(0, -1)}${Object.keys(body).length > 0 ? ',' : ''}"${name}":${number}}`,
    })),
    valid.map((body) => ({
      family: 'prototype',
      describe: '__proto__ and constructor keys',
      body: `${JSON.stringify(body).slice(0, -1)}${Object.keys(body).length > 0 ? ',' : ''}"__proto__":{"isAdmin":true,"balance":1e15},"constructor":{"prototype":{"polluted":1}}}`,
    })),
    fc.tuple(valid, field).map(([body, name]) => {
      const { [name]: _dropped, ...rest } = body;
      return { family: 'missing-field', describe: `without ${name}`, body: JSON.stringify(rest) };
    }),
    fc.constantFrom(...brokenBodies).map(([describe, body]) => ({ family: 'broken-json', describe, body })),
  );
}

function replaceField(body: Record<string, unknown>, name: string, valueText: string): string {
  const rest = Object.entries(body).filter(([key]) => key !== name);
  const parts = rest.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  parts.push(`${JSON.stringify(name)}:${valueText}`);
  return `{${parts.join(',')}}`;
}

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const brokenBodies: ReadonlyArray<readonly [string, string]> = [
  ['empty', ''],
  ['truncated', '{"amount": 10'],
  ['trailing garbage', '{"amount": 10}xyz'],
  ['single quotes', "{'amount': 10}"],
  ['a BOM first', '\uFEFF{"amount": 10}'],
  ['NaN', '{"amount": NaN}'],
  ['Infinity', '{"amount": Infinity}'],
  ['a comment', '{"amount": 10 /* ten */}'],
  ['a bare string', '"amount"'],
  ['an array', '[{"amount": 10}]'],
  ['null', 'null'],
  ['unpaired surrogate escapes', '{"name": "\\ud800\\udc00\\ud800"}'],
  ['invalid escapes', '{"name": "\\x41\\u12"}'],
  ['control characters raw', '{"name": "a\u0001b\u001fc"}'],
  ['deep arrays', `${'['.repeat(30_000)}${']'.repeat(30_000)}`],
  ['a wide object', `{${Array.from({ length: 5_000 }, (_, index) => `"k${index}":${index}`).join(',')}}`],
  ['invalid UTF-8 as latin1', '{"name": "\u00c3\u0028"}'],
];
