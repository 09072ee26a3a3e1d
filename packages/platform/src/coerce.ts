// Environment variables, query strings, path params and headers all arrive
// as strings. TypeBox's own Value.Convert is lenient ('1.5' becomes 1,
// 'yes' becomes true); a bank would rather refuse than guess, so only the
// exact spellings below are converted and anything else is left as a string
// for validation to reject.

const integerPattern = /^-?\d+$/;
const numberPattern = /^-?\d+(\.\d+)?$/;
const booleanSpellings: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
};

type SchemaLike = { type?: unknown; properties?: Record<string, SchemaLike> };

/** Converts one string to the primitive its schema asks for, or returns it unchanged. */
export function coerceString(schema: SchemaLike, value: string): unknown {
  if (schema.type === 'integer' && integerPattern.test(value)) return Number(value);
  if (schema.type === 'number' && numberPattern.test(value)) return Number(value);
  if (schema.type === 'boolean' && Object.hasOwn(booleanSpellings, value)) return booleanSpellings[value];
  return value;
}

const convertibleTypes = new Set<unknown>(['integer', 'number', 'boolean']);

/** Whether coerceStringProperties can change a record of this object schema (the types coerceString converts). */
export function hasConvertibleProperties(schema: SchemaLike): boolean {
  return Object.values(schema.properties ?? {}).some((property) => convertibleTypes.has(property.type));
}

/** Returns a copy of `record` whose string properties are converted per the object schema's properties. */
export function coerceStringProperties(
  schema: SchemaLike,
  record: Record<string, unknown>,
): Record<string, unknown> {
  const properties = schema.properties ?? {};
  const coerced: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(record)) {
    const propertySchema = properties[key];
    if (propertySchema !== undefined && typeof value === 'string') {
      coerced[key] = coerceString(propertySchema, value);
    }
  }
  return coerced;
}
