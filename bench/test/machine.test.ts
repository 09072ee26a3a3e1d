import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bareProxyGroup, type CpuSnapshot, cpuBreakdown, groupOf } from '../suite/machine.ts';

function snapshot(atMs: number, busy: number, processes: Array<[number, string, number]>): CpuSnapshot {
  return {
    atMs,
    machineBusyTicks: busy,
    groups: new Map(processes.map(([pid, group, ticks]) => [pid, { group, ticks }])),
  };
}

test('when processes used CPU during a window, then each group gets its share of the whole machine and the rest is other', () => {
  // 10 s on 2 cores at 100 ticks/s: 2,000 ticks of capacity, 1,600 busy.
  const before = snapshot(0, 10_000, [
    [1, 'gateway', 500],
    [2, 'postgresql', 100],
    [3, 'postgresql', 100],
  ]);
  const after = snapshot(10_000, 11_600, [
    [1, 'gateway', 1_100],
    [2, 'postgresql', 300],
    [3, 'postgresql', 200],
    // A backend born during the window: all of its ticks count.
    [4, 'postgresql', 100],
  ]);
  const breakdown = cpuBreakdown(before, after, 2);
  assert.equal(breakdown.machineBusy, 0.8);
  assert.deepEqual(breakdown.groups, { gateway: 0.3, postgresql: 0.2, other: 0.3 });
  assert.deepEqual(
    Object.keys(breakdown.groups),
    ['gateway', 'postgresql', 'other'],
    'largest first, other last',
  );
});

test('when the window is empty, then nothing is claimed', () => {
  const same = snapshot(5_000, 100, []);
  assert.deepEqual(cpuBreakdown(same, same, 2), { windowS: 0, machineBusy: 0, groups: {} });
});

test('when a process measured its own share, then that share stands in for its ticks', () => {
  const before = snapshot(0, 0, [[1, 'gateway', 0]]);
  const after = snapshot(10_000, 1_000, [[1, 'gateway', 400]]);
  const breakdown = cpuBreakdown(before, after, 2, { 'load generator': 0.1 });
  assert.deepEqual(breakdown.groups, { gateway: 0.2, 'load generator': 0.1, other: 0.2 });
});

test("when the suite runs the seed's coupon service, then its JVM is the peer-coupon group and the broker stays kafka", () => {
  const peer =
    'java -XX:MaxRAMPercentage=75.0 -jar /tmp/nuri-peer-coupon-x1/target/peer-coupon.jar --server.port=41234 --spring.kafka.bootstrap-servers=127.0.0.1:9092 ';
  assert.equal(groupOf(4321, process.pid, peer, 'java'), 'peer-coupon');
  // Not a child of the suite: someone else's JVM, whatever it runs.
  assert.equal(groupOf(4321, 1, peer, 'java'), undefined);
  assert.equal(
    groupOf(99, 1, 'java -Xmx1g -cp libs/* kafka.Kafka config/server.properties ', 'java'),
    'kafka',
  );
});

test('when the run itself started a shared server (nothing ran before it), then it is still its group, not left out', () => {
  const broker =
    'java -Xmx512m -Xms128m -cp /repo/.cache/kafka/libs/* kafka.Kafka /repo/.cache/kafka/server.properties ';
  assert.equal(groupOf(17156, process.pid, broker, 'java'), 'kafka');
  assert.equal(groupOf(17157, process.pid, 'postgres -D /var/lib/postgresql ', 'postgres'), 'postgresql');
  assert.equal(groupOf(17158, process.pid, 'redis-server 127.0.0.1:6379 ', 'redis-server'), 'redis');
  // The ceiling's own producer JVM is a child too, and not the broker.
  const producer =
    'java -Xmx256m -cp /repo/.cache/kafka/libs/* org.apache.kafka.tools.ProducerPerformance --topic t ';
  assert.equal(groupOf(17159, process.pid, producer, 'java'), undefined);
});

test('when the bare-proxy ceiling runs, then its proxy is the bare proxy group and its upstream is in none', () => {
  const proxy = '/usr/bin/node /repo/bench/suite/bare-proxy.ts http://127.0.0.1:40001 ';
  assert.equal(groupOf(5001, process.pid, proxy, 'node'), bareProxyGroup);
  assert.equal(
    groupOf(5002, process.pid, '/usr/bin/node /repo/bench/suite/bare-server.ts ', 'node'),
    undefined,
  );
  // Not the suite's child: not ours to count.
  assert.equal(groupOf(5003, 1, proxy, 'node'), undefined);
});
