import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../random.ts';
import { faultKinds, type InstanceRef, parseFaultKinds, planFaults } from '../schedule.ts';

const instances: InstanceRef[] = [
  'gateway',
  'channel-user',
  'point',
  'coupon',
  'core-user',
  'core-payment',
].flatMap((service) => [1, 2].map((index) => ({ name: `${service}#${index}`, service })));

describe('the fault schedule', () => {
  it('when planned twice from one seed, then it is the same schedule; another seed gives another', () => {
    const plan = (seed: number) =>
      planFaults(seededRandom(seed).fork('faults'), { durationS: 600, kinds: faultKinds, instances });
    assert.deepEqual(plan(42), plan(42));
    assert.notDeepEqual(plan(42), plan(43));
  });

  it('when a full run asks for every fault, then each kind appears, every service is killed, shared servers restart once and nothing overlaps', () => {
    for (const seed of [1, 2, 3, 99, 12_345]) {
      const plan = planFaults(seededRandom(seed), { durationS: 600, kinds: faultKinds, instances });
      for (const kind of faultKinds)
        assert.ok(
          plan.some((fault) => fault.kind === kind),
          `${kind} (seed ${seed})`,
        );
      const killed = new Set(
        plan.filter((fault) => fault.kind === 'kill').map((fault) => fault.target!.service),
      );
      assert.equal(killed.size, 6, `every service killed (seed ${seed})`);
      assert.equal(plan.filter((fault) => fault.kind === 'pg').length, 1);
      assert.equal(plan.filter((fault) => fault.kind === 'mariadb').length, 1);
      const redis = plan.filter((fault) => fault.kind === 'redis').map((fault) => fault.variant);
      assert.ok(redis.includes('lost') && redis.includes('persisted'));
      for (const [index, fault] of plan.entries()) {
        assert.equal(fault.id, index + 1);
        const next = plan[index + 1];
        if (next !== undefined)
          assert.ok(next.atS > fault.atS + fault.holdS, `#${next.id} starts after #${fault.id} held`);
      }
      assert.ok(plan.at(-1)!.atS + plan.at(-1)!.holdS <= 590);
    }
  });

  it('when the holds are drawn, then they stay in the issue’s ranges', () => {
    const plan = planFaults(seededRandom(7), { durationS: 3_000, kinds: faultKinds, instances });
    for (const fault of plan) {
      if (fault.kind === 'pause' || fault.kind === 'broker') assert.ok(fault.holdS >= 5 && fault.holdS <= 20);
      if (fault.kind === 'partition' || fault.kind === 'latency')
        assert.ok(fault.holdS >= 10 && fault.holdS <= 30);
    }
  });

  it('when the run is short (CI), then it still holds a broker restart, a partition and a few kills', () => {
    const plan = planFaults(seededRandom(1), {
      durationS: 120,
      kinds: ['kill', 'broker', 'partition'],
      instances,
    });
    assert.equal(plan.filter((fault) => fault.kind === 'broker').length >= 1, true);
    assert.equal(plan.filter((fault) => fault.kind === 'partition').length >= 1, true);
    assert.ok(plan.filter((fault) => fault.kind === 'kill').length >= 2, JSON.stringify(plan));
  });

  it('when --faults names an unknown fault, then it says which, and `all` is every kind', () => {
    assert.throws(() => parseFaultKinds('kill,flood'), /unknown fault flood/);
    assert.deepEqual(parseFaultKinds('all'), [...faultKinds]);
    assert.deepEqual(parseFaultKinds('kill, pause,kill'), ['kill', 'pause']);
  });
});

describe('the seeded random source', () => {
  it('when forked by label, then each stream is its own and repeatable', () => {
    const draw = (seed: number, label: string) => {
      const random = seededRandom(seed).fork(label);
      return Array.from({ length: 5 }, () => random.int(0, 1_000_000));
    };
    assert.deepEqual(draw(5, 'faults'), draw(5, 'faults'));
    assert.notDeepEqual(draw(5, 'faults'), draw(5, 'operations'));
    const random = seededRandom(3);
    for (let index = 0; index < 1_000; index += 1) {
      const value = random.int(-2, 2);
      assert.ok(value >= -2 && value <= 2 && Number.isInteger(value));
    }
  });
});
