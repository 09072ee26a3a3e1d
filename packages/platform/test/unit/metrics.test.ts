import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/metrics.ts';

/** The value of the one sample named `name` whose labels include all of `labels`, in any order. */
function sampleValue(text: string, name: string, labels: string[]): string | undefined {
  const lines = text.split('\n').filter((line) => line.startsWith(`${name}{`));
  const matching = lines.filter((line) => labels.every((label) => line.includes(label)));
  assert.equal(matching.length, 1, `expected one ${name} sample with ${labels.join(',')}`);
  return matching[0]?.split(' ').at(-1);
}

describe('createMetrics', () => {
  it('when rendered, then default metrics carry the nuri_ prefix and the service label', async () => {
    const metrics = createMetrics('core-user');
    const text = await metrics.registry.metrics();
    assert.match(text, /^nuri_process_cpu_user_seconds_total\{service="core-user"\} /m);
    assert.match(text, /^nuri_nodejs_heap_size_used_bytes\{service="core-user"\} /m);
  });

  it('when a request is observed, then the histogram counts it by method, route template and status', async () => {
    const metrics = createMetrics('point');
    metrics.httpRequestDuration.observe({ method: 'GET', route: '/api/v1/points', status: '200' }, 0.02);
    const text = await metrics.registry.metrics();
    const labels = ['method="GET"', 'route="/api/v1/points"', 'status="200"', 'service="point"'];
    assert.equal(sampleValue(text, 'nuri_http_request_duration_seconds_count', labels), '1');
    assert.equal(
      sampleValue(text, 'nuri_http_request_duration_seconds_bucket', [...labels, 'le="0.01"']),
      '0',
    );
    assert.equal(
      sampleValue(text, 'nuri_http_request_duration_seconds_bucket', [...labels, 'le="0.025"']),
      '1',
    );
  });

  it('when two services live in one process, then each registry holds only its own samples', async () => {
    const first = createMetrics('gateway');
    const second = createMetrics('coupon');
    first.httpRequestDuration.observe({ method: 'POST', route: '/a', status: '201' }, 0.1);
    const secondText = await second.registry.metrics();
    assert.ok(!secondText.includes('route="/a"'));
    assert.ok(!secondText.includes('service="gateway"'));
  });
});
