import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LogScanner } from '../logs.ts';
import type { Person } from '../workload.ts';

const people: Person[] = [
  { name: '김민준', rrn: '850101-1234567', phone: '010-1234-5678', loginId: 'chaos_0', password: 'x' },
  { name: 'José Núñez', rrn: '900202-2345678', phone: '010-2222-3333', loginId: 'chaos_1', password: 'x' },
];

function scanner(): LogScanner {
  return new LogScanner(mkdtempSync(join(tmpdir(), 'chaos-logs-')), () => people);
}

describe('the PII scan of the logs', () => {
  it('when a line carries a customer’s name, RRN or phone (raw, without dashes or JSON-escaped), then it is a finding with the data blanked', () => {
    const logs = scanner();
    logs.take('core-user#1', '{"level":30,"msg":"registered","name":"김민준"}');
    logs.take('channel-user#1', '{"level":30,"rrn":"8501011234567"}');
    logs.take('gateway#1', '{"level":40,"phone":"01022223333"}');
    logs.take('point#1', '{"level":30,"who":"Jos\\u00e9 N\\u00fa\\u00f1ez"}');
    logs.take('coupon#1', '{"level":30,"someone":"770707-1000000"}');
    assert.equal(logs.findingCount, 5);
    assert.deepEqual(
      logs.findings.map((finding) => finding.kinds),
      [['name'], ['rrn'], ['phone'], ['name'], ['rrn']],
    );
    assert.ok(
      logs.findings.every((finding) => !/김민준|8501011234567|01022223333|770707-1000000/.test(finding.line)),
    );
    assert.equal(logs.invariant().ok, false);
  });

  it('when lines carry only masked values, ids and account numbers, then nothing is found', () => {
    const logs = scanner();
    logs.take(
      'core-user#1',
      '{"level":30,"maskedName":"김*준","maskedRrn":"850101-1******","maskedPhone":"010-1234-****"}',
    );
    logs.take(
      'channel-user#1',
      '{"level":30,"accountNo":"010-123-456789","reqId":"01a24996-e977-70c3-b957-1b4baa1ee466"}',
    );
    assert.equal(logs.findingCount, 0);
    assert.equal(logs.invariant().ok, true);
    assert.equal(logs.totalLines(), 2);
  });
});
