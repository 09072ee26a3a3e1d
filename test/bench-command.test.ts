import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { planBench } from '../src/cli/commands/bench.ts';
import { rootDir } from '../src/cli/paths.ts';

const suite = join(rootDir, 'bench', 'suite', 'main.ts');
const script = (name: string) => join(rootDir, 'bench', `${name}.ts`);

describe('nuri bench: suite or per-area scripts', () => {
  test('when no name is given, then the suite runs with the options as they are', () => {
    assert.deepEqual(planBench([]), { entries: [suite], args: [] });
    assert.deepEqual(planBench(['--runs', '1']), { entries: [suite], args: ['--runs', '1'] });
  });

  test('when suite scenarios are named, then the suite gets them and their option values', () => {
    assert.deepEqual(planBench(['withdraw', 'login', '--duration', '3']), {
      entries: [suite],
      args: ['withdraw', 'login', '--duration', '3'],
    });
  });

  test('when a name is both a suite scenario and a script, then the suite wins and area: reaches the script', () => {
    assert.deepEqual(planBench(['payment-saga']).entries, [suite]);
    assert.deepEqual(planBench(['area:payment-saga', '--runs', '1']), {
      entries: [script('payment-saga')],
      args: ['--runs', '1'],
    });
  });

  test('when per-area scripts are named, then they run in turn with the remaining options', () => {
    assert.deepEqual(planBench(['core-payment', 'coupon', '--runs', '2']), {
      entries: [script('core-payment'), script('coupon')],
      args: ['--runs', '2'],
    });
  });

  test('when the suite and a script are mixed, or area: names nothing, then it is refused', () => {
    assert.throws(() => planBench(['withdraw', 'coupon']), /separate commands/);
    assert.throws(() => planBench(['area:nothing']), /unknown per-area script/);
  });
});
