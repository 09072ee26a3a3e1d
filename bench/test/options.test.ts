import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  defaultScenarioNames,
  parseSuiteOptions,
  scenarioNames,
  scenariosOnlyWhenNamed,
  UsageError,
} from '../suite/options.ts';

const parse = (argv: string[]) => parseSuiteOptions(argv, '/tmp/results');

describe('suite options', () => {
  test('when nothing is given, then every scenario but the peer comparison runs with the ceilings and the issue sizes', () => {
    const options = parse([]);
    assert.deepEqual(options.scenarios, [...defaultScenarioNames]);
    assert.deepEqual(
      scenarioNames.filter((name) => !options.scenarios.includes(name)),
      ['peer-coupon-nuri', 'peer-coupon-seed'],
    );
    assert.deepEqual([...scenariosOnlyWhenNamed], ['peer-coupon-nuri', 'peer-coupon-seed']);
    assert.equal(options.peerSrc, undefined);
    assert.equal(options.ceilings, true);
    assert.equal(options.durationS, undefined);
    assert.equal(options.connections, undefined);
    assert.equal(options.runs, undefined);
    assert.equal(options.warmUp, true);
    assert.equal(options.rushRequests, 100_000);
    assert.equal(options.rushQuantity, 10_000);
    assert.equal(options.steadyRate, 1_000);
    assert.equal(options.failingShare, 0.3);
    assert.equal(options.resultsDir, '/tmp/results');
  });

  test('when --no-warm-up is given, then no run 0 comes before the measured runs', () => {
    assert.equal(parse(['withdraw', '--no-warm-up']).warmUp, false);
  });

  test('when --log-level is given, then the services log at it; else at NURI_E2E_LOG_LEVEL, else at warn; a bad one is a usage error', () => {
    assert.equal(parse([]).logLevel, 'warn');
    assert.equal(parse(['withdraw', '--log-level', 'info']).logLevel, 'info');
    assert.equal(parseSuiteOptions([], '/tmp', { NURI_E2E_LOG_LEVEL: 'info' }).logLevel, 'info');
    assert.equal(
      parseSuiteOptions(['--log-level', 'error'], '/tmp', { NURI_E2E_LOG_LEVEL: 'info' }).logLevel,
      'error',
    );
    assert.throws(() => parse(['--log-level', 'verbose']), UsageError);
    assert.throws(() => parseSuiteOptions([], '/tmp', { NURI_E2E_LOG_LEVEL: 'loud' }), UsageError);
  });

  test('when --tracing is given, then the system runs with tracing on; by default it is off', () => {
    assert.equal(parse([]).tracing, false);
    assert.equal(parse(['withdraw', '--tracing']).tracing, true);
  });

  test('when --scale names instances per service, then they are parsed as npm start parses them; a bad one is a usage error', () => {
    assert.deepEqual(parse([]).scale, {});
    assert.deepEqual(parse(['coupon-rush', '--scale', 'gateway=2,coupon=3']).scale, {
      gateway: 2,
      coupon: 3,
    });
    assert.throws(() => parse(['--scale', 'gateway=0']), UsageError);
    assert.throws(() => parse(['--scale', 'wallet=2']), UsageError);
  });

  test('when scenarios are named, then only they run, once each, in the catalogue order', () => {
    assert.deepEqual(parse(['login', 'withdraw', 'login']).scenarios, ['withdraw', 'login']);
  });

  test('when sizes are given with separate values, then they are read as numbers', () => {
    const options = parse([
      'withdraw',
      '--duration',
      '3',
      '--connections',
      '20',
      '--runs',
      '1',
      '--no-ceilings',
    ]);
    assert.deepEqual(options.scenarios, ['withdraw']);
    assert.equal(options.durationS, 3);
    assert.equal(options.connections, 20);
    assert.equal(options.runs, 1);
    assert.equal(options.ceilings, false);
  });

  test('when sizes are given with =, then they are read the same', () => {
    assert.equal(parse(['--runs=5']).runs, 5);
  });

  test('when a scenario is unknown, then it is a usage error naming the known ones', () => {
    assert.throws(
      () => parse(['withdraw', 'withdrawal']),
      (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /unknown scenario withdrawal; known: coupon-rush/);
        assert.match(error.message, /groups: outbox-relay, core-payment/);
        return true;
      },
    );
  });

  test('when a group is named, then it stands for its scenarios, in the catalogue order with the others', () => {
    assert.deepEqual(parse(['outbox-relay']).scenarios, ['outbox-relay-postgres', 'outbox-relay-mariadb']);
    assert.deepEqual(parse(['core-payment', 'withdraw']).scenarios, [
      'withdraw',
      'core-deposits',
      'core-withdraw',
      'core-withdraw-hot',
    ]);
    assert.deepEqual(parse(['channel', 'me']).scenarios, ['withdraw', 'deposit', 'me', 'me-direct']);
  });

  test("when the scenarios below the gateway are sized, then their sizes are read; by default they keep the per-area scripts' sizes", () => {
    const defaults = parse([]);
    assert.equal(defaults.coreAccounts, 1_000);
    assert.equal(defaults.coreDeposits, 50_000);
    assert.equal(defaults.outboxEvents, 100_000);
    const sized = parse(['core-deposits', '--accounts', '50', '--deposits', '2000', '--events=5000']);
    assert.equal(sized.coreAccounts, 50);
    assert.equal(sized.coreDeposits, 2_000);
    assert.equal(sized.outboxEvents, 5_000);
    assert.throws(() => parse(['--events', '0']), /--events wants a positive integer/);
  });

  test('when an option is unknown, then it is a usage error', () => {
    assert.throws(() => parse(['--durations', '3']), UsageError);
  });

  test('when a number is not a positive integer, then it is a usage error naming the flag', () => {
    for (const value of ['0', '-1', '2.5', 'ten', '']) {
      assert.throws(() => parse([`--runs=${value}`]), /--runs wants a positive integer/);
    }
  });

  test('when the failing share is outside [0, 1), then it is a usage error', () => {
    assert.equal(parse(['--failing', '0']).failingShare, 0);
    assert.equal(parse(['--failing', '.25']).failingShare, 0.25);
    assert.throws(() => parse(['--failing', '1']), /--failing/);
    assert.throws(() => parse(['--failing', '30']), /--failing/);
  });

  test('when the rush could not sell out, then it is refused before anything boots', () => {
    assert.throws(() => parse(['--quantity', '5000', '--crowd', '1000']), /--crowd 1000/);
    assert.throws(() => parse(['--quantity', '5000', '--requests', '1000']), /--requests 1000/);
  });

  test("when peer-coupon is named with --peer-src, then both sides run with the seed's folder and the rush's sizes", () => {
    const options = parse([
      'peer-coupon',
      '--peer-src',
      '/tmp/peer-seed',
      '--requests',
      '20000',
      '--crowd',
      '5000',
      '--quantity',
      '2000',
    ]);
    assert.deepEqual(options.scenarios, ['peer-coupon-nuri', 'peer-coupon-seed']);
    assert.equal(options.peerSrc, '/tmp/peer-seed');
    assert.equal(options.rushRequests, 20_000);
    assert.equal(options.crowd, 5_000);
    assert.equal(options.rushQuantity, 2_000);
  });

  test('when the seed is to run without --peer-src, then it is a usage error saying what to pass', () => {
    for (const argv of [['peer-coupon'], ['peer-coupon-seed'], ['peer-coupon', '--peer-src=']]) {
      assert.throws(
        () => parse(argv),
        (error: Error) => {
          assert.ok(error instanceof UsageError);
          assert.match(error.message, /peer-coupon-seed .*pass --peer-src DIR/);
          assert.match(error.message, /tech-semina-msa/);
          return true;
        },
      );
    }
  });

  test('when only our side of the comparison is named, then it needs no --peer-src', () => {
    assert.deepEqual(parse(['peer-coupon-nuri']).scenarios, ['peer-coupon-nuri']);
  });
});
