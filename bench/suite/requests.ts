// How request number n of a load is made from its templates: round-robin,
// and under an idempotency-key prefix with a key of its own — in the
// Idempotency-Key header (the public API's), and wherever the template's body
// holds the placeholder (core-payment's internal withdrawal route takes its
// key in the body). Pure, so it is unit-tested (bench/test/requests.test.ts).
import type { RequestTemplate, SentRequest } from './load-types.ts';

/** Where a template's body wants the request's own idempotency key. */
export const idempotencyKeyPlaceholder = '{{idempotencyKey}}';

export function requestOf(
  templates: readonly RequestTemplate[],
  index: number,
  idempotencyKeyPrefix: string | undefined,
): SentRequest {
  const template = templates[index % templates.length]!;
  const headers: Record<string, string> = { ...template.headers };
  let body = template.body;
  if (idempotencyKeyPrefix !== undefined) {
    const key = `${idempotencyKeyPrefix}-${index}`;
    headers['idempotency-key'] = key;
    body = body?.replaceAll(idempotencyKeyPlaceholder, key);
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  return {
    method: template.method,
    path: template.path,
    headers,
    ...(body === undefined ? {} : { body }),
    ...(template.tag === undefined ? {} : { tag: template.tag }),
  };
}
