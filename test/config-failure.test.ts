import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { serviceEntry, services } from '../src/cli/services.ts';

// A service with a bad configuration must refuse to start before it listens,
// naming every bad variable and never echoing a value (values are often secrets).
for (const service of services) {
  test(`when ${service.name} starts with a bad port and a bad log level, then it exits 1 naming both variables`, () => {
    const secretLookingValue = 'hunter2-s3cr3t-value';
    const result = spawnSync(process.execPath, [serviceEntry(service, 'server.ts')], {
      encoding: 'utf8',
      // Generous: loading a service's modules on a loaded 2-core machine has taken over 20 s.
      timeout: 60_000,
      env: {
        ...process.env,
        [service.portVariable]: secretLookingValue,
        NURI_LOG_LEVEL: 'loud',
      },
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${service.portVariable} `));
    assert.match(
      result.stderr,
      /NURI_LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent/,
    );
    assert.ok(!result.stderr.includes(secretLookingValue), 'the rejected value leaked into the message');
    assert.ok(!result.stdout.includes('listening'), 'it listened despite the bad configuration');
  });
}
