import { migrateToLatest } from '@nuri/platform/db';
import { runMain } from '@nuri/platform/service';
import { loadServiceConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrations } from './db/migrations.ts';

await runMain('core-user migrate', async () => {
  const database = openDatabase(loadServiceConfig());
  try {
    await migrateToLatest(database.db, migrations);
  } finally {
    await database.close();
  }
});
