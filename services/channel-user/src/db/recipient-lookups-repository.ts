import { type Kysely, sql } from 'kysely';
import type { LookupCounter } from '../domain/transfers.ts';
import type { ServiceDb } from './database.ts';

const windowMs = 60_000;

/**
 * A fixed one-minute window per user, counted in one statement (so racing
 * look-ups on several instances lose no count): the window starts at the
 * user's first look-up and a new one after it ends.
 */
export function createLookupCounter(db: Kysely<ServiceDb>): LookupCounter {
  return {
    async hit(userUuid, perMinuteMax) {
      const { rows } = await sql<{ lookups: number; window_start: Date }>`
        insert into recipient_lookups as r (user_uuid, window_start, lookups)
        values (${userUuid}, now(), 1)
        on conflict (user_uuid) do update set
          lookups = case when r.window_start <= now() - ${windowMs}::integer * interval '1 millisecond'
            then 1 else r.lookups + 1 end,
          window_start = case when r.window_start <= now() - ${windowMs}::integer * interval '1 millisecond'
            then now() else r.window_start end
        returning lookups, window_start`.execute(db);
      const row = rows[0]!;
      if (row.lookups <= perMinuteMax) return { limited: false };
      const endsInMs = row.window_start.getTime() + windowMs - Date.now();
      return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil(endsInMs / 1_000)) };
    },
  };
}
