import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestTemplate } from '../suite/load-types.ts';
import { idempotencyKeyPlaceholder, requestOf } from '../suite/requests.ts';

const templates: RequestTemplate[] = [
  { method: 'GET', path: '/a', headers: { authorization: 'Bearer a' }, tag: 'first' },
  {
    method: 'POST',
    path: '/b',
    headers: { authorization: 'Bearer b' },
    body: JSON.stringify({ amount: 1, idempotencyKey: idempotencyKeyPlaceholder }),
  },
];

test('when requests are made, then the templates are taken round-robin with their tags', () => {
  assert.deepEqual(
    [0, 1, 2, 3].map((index) => requestOf(templates, index, undefined).path),
    ['/a', '/b', '/a', '/b'],
  );
  assert.equal(requestOf(templates, 2, undefined).tag, 'first');
  assert.equal(requestOf(templates, 1, undefined).tag, undefined);
});

test('when there is an idempotency-key prefix, then request n carries <prefix>-n in the header and in place of the body placeholder', () => {
  const request = requestOf(templates, 7, 'run1-cw2');
  assert.equal(request.headers['idempotency-key'], 'run1-cw2-7');
  assert.deepEqual(JSON.parse(request.body!), { amount: 1, idempotencyKey: 'run1-cw2-7' });
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers.authorization, 'Bearer b');
});

test('when there is no prefix, then no key is added and the body is sent as the template has it', () => {
  const request = requestOf(templates, 1, undefined);
  assert.equal(request.headers['idempotency-key'], undefined);
  assert.equal(request.body, templates[1]!.body);
  assert.equal(requestOf(templates, 0, undefined).headers['content-type'], undefined);
});

test('when requests are made, then the templates themselves are left as they were', () => {
  requestOf(templates, 1, 'p');
  assert.equal(templates[1]!.headers!['idempotency-key'], undefined);
  assert.ok(templates[1]!.body!.includes(idempotencyKeyPlaceholder));
});
