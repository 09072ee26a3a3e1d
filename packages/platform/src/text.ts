/**
 * Control characters (C0, DEL, C1) and the Unicode line and paragraph
 * separators: never part of a name, alias or memo a person types, and a
 * statement line or a log must not carry them. NUL in particular cannot be
 * stored in PostgreSQL text at all.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function hasControlCharacters(text: string): boolean {
  return controlCharacters.test(text);
}
