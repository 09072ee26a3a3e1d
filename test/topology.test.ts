import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, formatStatus } from '../src/cli/status.ts';
import { parseScale, planTopology, portsOf } from '../src/cli/topology.ts';

test('when --scale names services with counts, then each is parsed; unknown names, zero and more than ten are refused', () => {
  assert.deepEqual(parseScale('coupon=3, core-payment=2'), { coupon: 3, 'core-payment': 2 });
  assert.deepEqual(parseScale(''), {});
  assert.deepEqual(parseScale(undefined), {});
  assert.throws(() => parseScale('wallet=2'), /no service named 'wallet'/);
  assert.throws(() => parseScale('coupon=0'), /1–10 instances/);
  assert.throws(() => parseScale('coupon=11'), /1–10 instances/);
  assert.throws(() => parseScale('coupon'), /name=count/);
});

test('when a service runs several times, then instance i listens on its base port + 10·i and every caller is told every URL', () => {
  const topology = planTopology({ coupon: 3, 'core-payment': 2 }, {});
  const coupons = topology.instances.filter((instance) => instance.service.name === 'coupon');
  assert.deepEqual(
    coupons.map((instance) => [instance.name, instance.port]),
    [
      ['coupon#1', 8203],
      ['coupon#2', 8213],
      ['coupon#3', 8223],
    ],
  );
  const gateway = topology.instances.find((instance) => instance.service.name === 'gateway')!;
  assert.equal(gateway.name, 'gateway');
  assert.equal(gateway.port, 8090, 'a gateway is probed on its own (ops) port');
  const env = topology.environmentOf(gateway);
  assert.equal(env.NURI_GATEWAY_OPS_PORT, '8090');
  assert.equal(env.NURI_COUPON_URL, 'http://127.0.0.1:8203,http://127.0.0.1:8213,http://127.0.0.1:8223');
  assert.equal(env.NURI_CORE_PAYMENT_URL, 'http://127.0.0.1:8102,http://127.0.0.1:8112');
  assert.equal(env.NURI_GATEWAY_PORT, '8080');
  assert.equal(env.NURI_GATEWAY_SHARE_PORT, undefined, 'one gateway does not share its port');
  assert.equal(topology.environmentOf(coupons[1]!).NURI_COUPON_PORT, '8213');
  assert.equal(topology.gatewayUrl, 'http://127.0.0.1:8080');
});

test('when the gateway runs several times, then all share the public port and each has its own from base + 10', () => {
  const topology = planTopology({ gateway: 3 }, { NURI_GATEWAY_PORT: '18080' });
  const gateways = topology.instances.filter((instance) => instance.service.name === 'gateway');
  assert.deepEqual(
    gateways.map((instance) => instance.port),
    [18090, 18100, 18110],
  );
  const env = topology.environmentOf(gateways[1]!);
  assert.equal(env.NURI_GATEWAY_PORT, '18080');
  assert.equal(env.NURI_GATEWAY_SHARE_PORT, 'true');
  assert.equal(env.NURI_GATEWAY_OPS_PORT, '18100');
  assert.equal(
    env.NURI_GATEWAY_PEER_URLS,
    'http://127.0.0.1:18090,http://127.0.0.1:18100,http://127.0.0.1:18110',
  );
  assert.equal(topology.gatewayUrl, 'http://127.0.0.1:18080');
});

test('when every service runs ten times, then no two instances anywhere share a port', () => {
  const scale = Object.fromEntries(
    ['gateway', 'core-user', 'core-payment', 'channel-user', 'point', 'coupon'].map((name) => [name, 10]),
  );
  const topology = planTopology(scale, {});
  const ports = topology.instances.map((instance) => instance.port);
  assert.equal(new Set(ports).size, ports.length);
  assert.equal(portsOf(topology).length, ports.length + 1, 'the shared gateway port besides');
});

test('when the status is printed, then each instance shows its pid, port, state, restarts, uptime and last exit', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  const text = formatStatus(
    {
      supervisorPid: 1,
      startedAt: now - 3_600_000,
      writtenAt: now,
      gatewayUrl: 'http://127.0.0.1:8080',
      instances: [
        {
          name: 'coupon#2',
          service: 'coupon',
          index: 1,
          port: 8213,
          pid: 4242,
          state: 'ready',
          restarts: 2,
          startedAt: now - 95_000,
          lastExit: { code: null, signal: 'SIGKILL', at: now - 96_000 },
        },
        {
          name: 'point',
          service: 'point',
          index: 0,
          port: 8202,
          pid: undefined,
          state: 'crash-looping',
          restarts: 5,
          startedAt: undefined,
          lastExit: { code: 1, signal: null, at: now - 2_000 },
        },
      ],
    },
    now,
  );
  const [header, coupon, point] = text.trimEnd().split('\n');
  assert.match(header!, /^instance\s+service\s+pid\s+port\s+state\s+restarts\s+uptime\s+last exit$/);
  assert.match(coupon!, /^coupon#2\s+coupon\s+4242\s+8213\s+ready\s+2\s+1m35s\s+SIGKILL, 1m36s ago$/);
  assert.match(point!, /^point\s+point\s+-\s+8202\s+crash-looping\s+5\s+-\s+code 1, 2s ago$/);
  assert.equal(formatDuration(2 * 86_400_000 + 3 * 3_600_000), '2d03h');
});
