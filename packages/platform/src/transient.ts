// Failures that say "not now" rather than "never", so that a consumer retries
// them instead of dead-lettering and an HTTP route answers 503 instead of 500:
// connection-level failures
// of PostgreSQL (SQLSTATE class 08, admin shutdown 57P01–57P03, too many
// connections 53300), MariaDB/MySQL (lost connection, too many connections)
// and sockets; and the database refusing this attempt but not the work —
// a statement timeout (57014), a lock not available (55P03), a deadlock
// (40P01; MariaDB 1213) or serialization failure (40001), a lock wait timeout
// (MariaDB 1205), MariaDB's max_statement_time (1969) and MySQL's
// max_execution_time (3024); and a server that cannot write just now — a
// read-only one (a failover reached a standby, or the primary was demoted:
// 25006; MariaDB's --read-only, 1290), a full disk or memory (53100, 53200;
// MariaDB 1021, 1114). Dead-lettering any of those would drop a deposit
// whose only fault was a busy moment. A constraint violation or a bug is
// none of these.
const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53100',
  '53200',
  '25006',
  '57014',
  '55P03',
  '40P01',
  '40001',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_STATEMENT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
]);
const transientErrnos = new Set([1205, 1213, 1969, 3024, 1290, 1021, 1114]);
const transientMessages = [
  /Connection terminated/i,
  // node-postgres on a connection the server already dropped: this is what a
  // transaction's rollback throws (hiding the first error) after a restart.
  /Client has encountered a connection error and is not queryable/,
  /Client was closed and is not queryable/,
  /timeout exceeded when trying to connect/i,
  /connect ECONNREFUSED/,
];

/** True for errors that say a dependency is unreachable, looking through causes and aggregates. */
export function isTransientInfrastructureError(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const candidate = error as {
    code?: unknown;
    errno?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (
    typeof candidate.code === 'string' &&
    (transientCodes.has(candidate.code) || candidate.code.startsWith('08'))
  ) {
    return true;
  }
  if (typeof candidate.errno === 'number' && transientErrnos.has(candidate.errno)) return true;
  if (
    typeof candidate.message === 'string' &&
    transientMessages.some((pattern) => pattern.test(candidate.message as string))
  ) {
    return true;
  }
  if (
    Array.isArray(candidate.errors) &&
    candidate.errors.some((inner) => isTransientInfrastructureError(inner, depth + 1))
  ) {
    return true;
  }
  return isTransientInfrastructureError(candidate.cause, depth + 1);
}
