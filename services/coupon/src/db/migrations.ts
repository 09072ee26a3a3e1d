import type { Migration } from '@nuri/platform/db';

/**
 * coupon's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 */
export const migrations: Record<string, Migration> = {};
