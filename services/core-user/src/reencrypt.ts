import { runMain } from '@nuri/platform/service';
import { buildUserService } from './app.ts';
import { loadServiceConfig, secretsFromConfig } from './config.ts';
import { openDatabase } from './db/database.ts';

// Moves every user's PII to NURI_PII_ACTIVE_KEY_ID after a key rotation.
// Order of a rotation: add the new key to NURI_PII_KEYS everywhere and make it
// active, restart core-user, run this, and only then drop the old key.
// Safe to run again (and alongside the service): rows already under the
// active key are not touched.

/** Rows read per batch; each row is then rewritten by its own short statement. */
const reencryptBatchSizeMax = 200;

await runMain('core-user reencrypt', async () => {
  const config = loadServiceConfig();
  const database = openDatabase(config);
  try {
    const users = buildUserService({ database, ...secretsFromConfig(config) });
    const { moved, skipped } = await users.reencryptToActiveKey(reencryptBatchSizeMax);
    process.stdout.write(
      `core-user reencrypt: moved ${moved} rows to key ${config.NURI_PII_ACTIVE_KEY_ID}` +
        (skipped > 0 ? `; ${skipped} rows changed during the run and were left for the next run\n` : '\n'),
    );
  } finally {
    await database.close();
  }
});
