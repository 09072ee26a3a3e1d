import { AppError } from '@nuri/platform/errors';
import { hasControlCharacters } from '@nuri/platform/text';

/** core-payment's limit, checked here too so a bad alias costs no core call (and answers 400 while it is down). */
export const aliasLengthMax = 30;

export function checkAlias(alias: string | undefined): string | undefined {
  if (alias === undefined) return undefined;
  const length = Array.from(alias.trim()).length;
  if (length < 1 || length > aliasLengthMax) {
    throw new AppError(
      'VALIDATION_FAILED',
      400,
      `body/alias must be 1–${aliasLengthMax} characters once trimmed`,
    );
  }
  // As for a memo: NUL cannot be stored at all, and the alias is shown on statements.
  if (hasControlCharacters(alias)) {
    throw new AppError('VALIDATION_FAILED', 400, 'body/alias must not contain control characters');
  }
  return alias;
}
