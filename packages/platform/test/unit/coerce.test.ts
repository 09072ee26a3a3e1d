import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { coerceString, coerceStringProperties, hasConvertibleProperties } from '../../src/coerce.ts';

describe('coerceString', () => {
  it('when an integer is spelled plainly, then it becomes a number; any other spelling stays a string', () => {
    const integer = Type.Integer();
    assert.equal(coerceString(integer, '42'), 42);
    assert.equal(coerceString(integer, '-7'), -7);
    for (const spelling of ['1.5', '1e3', ' 12', '0x10', ''])
      assert.equal(coerceString(integer, spelling), spelling);
  });

  it('when a number has a plain decimal spelling, then it converts', () => {
    assert.equal(coerceString(Type.Number(), '0.25'), 0.25);
    assert.equal(coerceString(Type.Number(), '.5'), '.5');
  });

  it('when a boolean is true, false, 1 or 0, then it converts; yes/TRUE stay strings', () => {
    const boolean = Type.Boolean();
    assert.equal(coerceString(boolean, 'true'), true);
    assert.equal(coerceString(boolean, '0'), false);
    assert.equal(coerceString(boolean, 'yes'), 'yes');
    assert.equal(coerceString(boolean, 'TRUE'), 'TRUE');
  });

  it('when the schema wants a string, then the value is untouched', () => {
    assert.equal(coerceString(Type.String(), '42'), '42');
  });
});

describe('coerceStringProperties', () => {
  it('when given a record, then only declared properties are converted and the input is not mutated', () => {
    const schema = Type.Object({ limit: Type.Integer(), cursor: Type.String() });
    const input = { limit: '10', cursor: '20', other: '30' };
    assert.deepEqual(coerceStringProperties(schema, input), { limit: 10, cursor: '20', other: '30' });
    assert.deepEqual(input, { limit: '10', cursor: '20', other: '30' });
  });
});

describe('hasConvertibleProperties', () => {
  it('when an object schema has an integer, number or boolean property, then it may convert; only strings, then not', () => {
    assert.equal(hasConvertibleProperties(Type.Object({ limit: Type.Optional(Type.Integer()) })), true);
    assert.equal(hasConvertibleProperties(Type.Object({ ratio: Type.Number(), id: Type.String() })), true);
    assert.equal(hasConvertibleProperties(Type.Object({ all: Type.Boolean() })), true);
    assert.equal(
      hasConvertibleProperties(Type.Object({ id: Type.String(), cursor: Type.Optional(Type.String()) })),
      false,
    );
    assert.equal(hasConvertibleProperties(Type.String()), false);
  });

  it('when it says a schema cannot convert, then coerceStringProperties indeed leaves a record as it was', () => {
    // Typed as a plain object, as the validator's compiler passes it: a union has no `type` of its own.
    const schema: object = Type.Object({
      id: Type.String(),
      kind: Type.Union([Type.Literal('a'), Type.Literal('1')]),
    });
    assert.equal(hasConvertibleProperties(schema), false);
    assert.deepEqual(coerceStringProperties(schema, { id: '12', kind: '1' }), { id: '12', kind: '1' });
  });
});
