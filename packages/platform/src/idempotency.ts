import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Generated, type Kysely, type Migration, type Selectable, sql } from 'kysely';
import type { DatabaseDialect } from './db.ts';
import { AppError } from './errors.ts';
import { createGroupCommit, GroupCommitFullError } from './group-commit.ts';
import { uuidv7 } from './ids.ts';
import { dialectOf } from './kafka/sql-dialect.ts';

// docs/api.md "Idempotency": same user + same key + same body → the first response
// replayed (status and body, plus `Idempotent-Replayed: true`) and the effect
// happens once; same key, other body → 422 IDEMPOTENCY_KEY_REUSED; keys live
// at least 24 h. The key is per user, not per route: the route is part of
// the fingerprint, so a key reused on another route is a reuse too.

export const idempotencyKeyHeader = 'idempotency-key';
export const idempotentReplayedHeader = 'idempotent-replayed';
const keyPattern = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Sets `Idempotent-Replayed` on a handleDelegated answer the effect's owner
 * gave from its record of the key. It is a replay to the client when the
 * client sent the key before (`repeat`: the binding was there), or when the
 * owner's record predates every attempt of this call: a duplicate sent at
 * the same moment that reached the owner first, or a key sent again after
 * this store forgot its binding (it keeps keys 48 hours; core-payment keeps
 * its withdrawals and transfers for good). Only when an earlier attempt of
 * this same call may have reached the owner (`afterLostAttempt`: its answer
 * was lost and the call was retried) may the record be this request's own,
 * and a client's first request is not marked a replay for it.
 */
export function markDelegatedReplay(reply: FastifyReply, repeat: boolean, afterLostAttempt: boolean): void {
  if (repeat || !afterLostAttempt) reply.header(idempotentReplayedHeader, 'true');
}

export interface IdempotencyKeysTable {
  user_uuid: string;
  idem_key: string;
  request_hash: string;
  /** Given to the effect as its id: a re-run after a crash or a lost answer names the same resource. */
  operation_id: string;
  /** PENDING: claimed, running; DONE: the answer is stored here; REMOTE: the effect's owner keeps the answer. */
  state: 'PENDING' | 'DONE' | 'REMOTE';
  status_code: number | null;
  response_body: string | null;
  locked_until: Date;
  created_at: Generated<Date>;
}

export interface IdempotencyDatabase {
  idempotency_keys: IdempotencyKeysTable;
}

export const idempotencyMigrationName = '0000_platform_idempotency';
/** Adds the REMOTE state (`handleDelegated`); MySQL's column has no check to widen. */
export const idempotencyRemoteMigrationName = '0000_platform_idempotency_remote';

export function idempotencyMigrations(dialect: DatabaseDialect): Record<string, Migration> {
  const up =
    dialect === 'postgres'
      ? async (db: Kysely<unknown>) => {
          await sql`create table idempotency_keys (
            user_uuid uuid not null,
            idem_key varchar(64) not null,
            request_hash char(64) not null,
            operation_id uuid not null,
            state varchar(8) not null check (state in ('PENDING', 'DONE')),
            status_code integer,
            response_body text,
            locked_until timestamptz not null,
            created_at timestamptz not null default now(),
            primary key (user_uuid, idem_key)
          )`.execute(db);
          await sql`create index idempotency_keys_created_at on idempotency_keys (created_at)`.execute(db);
        }
      : async (db: Kysely<unknown>) => {
          await sql`create table idempotency_keys (
            user_uuid char(36) character set ascii collate ascii_bin not null,
            idem_key varchar(64) character set ascii collate ascii_bin not null,
            request_hash char(64) character set ascii collate ascii_bin not null,
            operation_id char(36) character set ascii collate ascii_bin not null,
            state varchar(8) character set ascii not null,
            status_code int,
            response_body mediumtext,
            locked_until datetime(3) not null,
            created_at datetime(3) not null default current_timestamp(3),
            primary key (user_uuid, idem_key),
            key idempotency_keys_created_at (created_at)
          ) engine = InnoDB`.execute(db);
        };
  return {
    [idempotencyMigrationName]: {
      up,
      down: async (db) => {
        await sql`drop table idempotency_keys`.execute(db);
      },
    },
    ...(dialect === 'postgres'
      ? {
          [idempotencyRemoteMigrationName]: {
            up: async (db: Kysely<unknown>) => {
              await sql`alter table idempotency_keys drop constraint idempotency_keys_state_check`.execute(
                db,
              );
              await sql`alter table idempotency_keys add constraint idempotency_keys_state_check
                check (state in ('PENDING', 'DONE', 'REMOTE'))`.execute(db);
            },
          },
        }
      : {}),
  };
}

/** Key rows in one order, so that batches of inserts lock them in one order (docs/architecture.md). */
export function byUserAndKey(
  a: { user_uuid: string; idem_key: string },
  b: { user_uuid: string; idem_key: string },
): number {
  if (a.user_uuid !== b.user_uuid) return a.user_uuid < b.user_uuid ? -1 : 1;
  return a.idem_key < b.idem_key ? -1 : a.idem_key > b.idem_key ? 1 : 0;
}

/** Whether a header value is a well-formed key (docs/api.md: 1–64 of A–Z a–z 0–9 _ -). */
export function isIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && keyPattern.test(value);
}

/** The client's key, undefined when absent; a malformed one is the client's error. */
export function readIdempotencyKey(request: FastifyRequest): string | undefined {
  const value = request.headers[idempotencyKeyHeader];
  if (value === undefined) return undefined;
  if (!isIdempotencyKey(value)) {
    throw new AppError(
      'VALIDATION_FAILED',
      400,
      'Idempotency-Key must be 1–64 characters of A-Z, a-z, 0-9, _ and -',
    );
  }
  return value;
}

/** A stable hash of what makes two requests "the same": route, path parameters and body. */
export function requestFingerprint(request: FastifyRequest): string {
  const parts = {
    method: request.method,
    route: request.routeOptions.url,
    params: request.params,
    body: request.body ?? null,
  };
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface IdempotentResult {
  statusCode: number;
  body: unknown;
}

interface StoredProblem {
  problem: { code: string; detail: string | undefined; extra: Record<string, unknown> };
}

export interface IdempotencyStoreOptions {
  /**
   * A PENDING claim older than this may be taken over (its owner crashed or
   * failed). The taker runs the effect again with the SAME operation id, so
   * an effect keyed by it (a deposit id, a payment id) happens once.
   */
  leaseMs?: number;
  /** docs/api.md promises at least 24 h. */
  retentionMs?: number;
  /**
   * Concurrent claims (and, separately, concurrent stored answers) are
   * written together, one statement and one commit per batch, instead of
   * one commit each: a keyed request would otherwise cost two commits more
   * than its effect. See group-commit.ts.
   */
  batching?: { batchSizeMax: number; concurrency: number; queueLengthMax: number };
}

const defaultBatching = { batchSizeMax: 256, concurrency: 2, queueLengthMax: 10_000 };

interface Claim {
  userUuid: string;
  key: string;
  hash: string;
  operationId: string;
  state?: 'PENDING' | 'REMOTE';
}

interface Answer extends Claim {
  statusCode: number;
  body: unknown;
}

export interface IdempotencyStore {
  /**
   * Runs `execute` at most once per (user, key): the first call's result (or
   * its 4xx AppError) is stored and replayed to every later call with the same
   * fingerprint. 5xx and unexpected errors are not stored: the client may retry.
   * `execute` receives the operation id to use as the id of what it creates:
   * fixed per (user, key), so a retry after a failure whose effect did commit
   * finds that effect instead of making a second one. Without a key, `execute`
   * simply runs with a fresh id.
   */
  handle(
    request: FastifyRequest,
    reply: FastifyReply,
    userUuid: string,
    execute: (operationId: string) => Promise<IdempotentResult>,
  ): Promise<unknown>;
  /**
   * For an effect whose owner keeps its own record under the same key and
   * answers a repeat from it (core-payment's withdrawals). The store only
   * binds the key to this request's fingerprint, once (one batched insert),
   * and stores no answer: a repeat with the same fingerprint runs `execute`
   * again with `repeat` true, and the owner answers it from its record;
   * another fingerprint → 422 IDEMPOTENCY_KEY_REUSED; a key bound by `handle`
   * behaves as there. Because nothing is stored after the effect, a crash or
   * a 5xx leaves no lease to wait out: the retry simply asks the owner again.
   * `execute` marks the answer (markDelegatedReplay) when the owner says it replayed.
   */
  handleDelegated(
    request: FastifyRequest,
    reply: FastifyReply,
    userUuid: string,
    execute: (repeat: boolean) => Promise<IdempotentResult>,
  ): Promise<unknown>;
  /**
   * For an effect whose answer is known before it is written and whose
   * writer can insert the key's row in the same statement (deposits: the 202
   * names the deposit id, which is the operation id). `execute` gets the
   * operation id and, when the request carries a key, the binding to write:
   * `keyRow(binding, result)` with `on conflict do nothing`, and the effect
   * only if that row went in. When the key was taken, nothing is written and
   * `execute` answers `keyTaken`: the store then answers from the existing
   * row (a replay, 422, or 409 while a `handle` request with it still runs).
   * So a keyed request costs no write of its own. A refusal `execute` throws
   * (a 4xx AppError) is an outcome too: the store binds the key to it in a
   * write of its own and replays it later, or answers from the key's row when
   * it was bound meanwhile; a 5xx binds nothing. A key `handle` claimed and
   * whose lease ran out is taken over and run as `handle` would, `execute`
   * then getting the claim's operation id and no binding.
   */
  handleInEffect(
    request: FastifyRequest,
    reply: FastifyReply,
    userUuid: string,
    execute: (
      operationId: string,
      binding: KeyBinding | undefined,
    ) => Promise<IdempotentResult | typeof keyTaken>,
  ): Promise<unknown>;
  /** Deletes keys past retention, at most `batchSizeMax` per call; returns how many. */
  purgeExpired(batchSizeMax?: number): Promise<number>;
}

/** A key to bind, with the request it stands for. */
export interface KeyBinding {
  userUuid: string;
  key: string;
  requestHash: string;
}

/**
 * What a `handleInEffect` effect needs to bind the key in its own write: the
 * binding, and the answer its result gets (known before the write).
 */
export interface EffectKey<Effect> {
  binding: KeyBinding;
  answer: (effect: Effect) => IdempotentResult;
}

/** MariaDB's "duplicate entry" error number. */
const mysqlDuplicateEntryErrno = 1062;

/** `handleInEffect`'s execute found the key bound already and wrote nothing. */
export const keyTaken = Symbol('idempotency key taken');

/** The `idempotency_keys` row that binds a key to its (already known) answer, as `handle` would store it. */
export function keyRow(binding: KeyBinding, operationId: string, result: IdempotentResult) {
  return {
    user_uuid: binding.userUuid,
    idem_key: binding.key,
    request_hash: binding.requestHash,
    operation_id: operationId,
    state: 'DONE' as const,
    status_code: result.statusCode,
    response_body: JSON.stringify(result.body),
  };
}

// The store is used with each service's own Kysely instance; only its table matters here.
// biome-ignore lint/suspicious/noExplicitAny: the service's DB type is wider than this table.
type AnyDb = Kysely<any>;

export function createIdempotencyStore(
  database: AnyDb,
  options: IdempotencyStoreOptions = {},
): IdempotencyStore {
  const db = database as Kysely<IdempotencyDatabase>;
  // Longer than any request may run (the gateway gives up on an upstream after 10 s): a claim
  // still PENDING after that belongs to a process that died, and its client's retry takes it over.
  const leaseMs = options.leaseMs ?? 12_000;
  const retentionMs = options.retentionMs ?? 48 * 3_600_000;
  const dialect = dialectOf(db);

  const batching = options.batching ?? defaultBatching;
  const claims = createGroupCommit<Claim, boolean>({
    ...batching,
    name: 'idempotency-claims',
    run: claimAll,
  });
  // Every answer belongs to a claim already admitted, so answers are never
  // refused: their queue is only a safety bound.
  const answers = createGroupCommit<Answer, undefined>({
    ...batching,
    name: 'idempotency-answers',
    queueLengthMax: batching.queueLengthMax * 10,
    run: storeAnswers,
  });

  /** Whether each claim is now its caller's: its row was inserted with the caller's fresh operation id. */
  async function claimAll(batch: readonly Claim[]): Promise<boolean[]> {
    const lockedUntil = new Date(Date.now() + leaseMs);
    const rows = batch.map((claim) => ({
      user_uuid: claim.userUuid,
      idem_key: claim.key,
      request_hash: claim.hash,
      operation_id: claim.operationId,
      state: claim.state ?? 'PENDING',
      locked_until: lockedUntil,
    }));
    // Two claims of one key in a batch: the row holds the first one's
    // operation id, so exactly one of them owns it, as if they came one by one.
    // Inserted in key order (a stable sort keeps twins in arrival order): two
    // batches in flight that hold the same two keys (a client's retry racing
    // its original, twice) lock them in one order rather than deadlocking.
    rows.sort(byUserAndKey);
    let owned: Set<string>;
    if (dialect === 'postgres') {
      const inserted = await db
        .insertInto('idempotency_keys')
        .values(rows)
        .onConflict((conflict) => conflict.doNothing())
        .returning('operation_id')
        .execute();
      owned = new Set(inserted.map((row) => row.operation_id));
    } else {
      await db.insertInto('idempotency_keys').ignore().values(rows).execute();
      const stored = await db
        .selectFrom('idempotency_keys')
        .select(['user_uuid', 'idem_key', 'operation_id'])
        .where('user_uuid', 'in', [...new Set(batch.map((claim) => claim.userUuid))])
        .where('idem_key', 'in', [...new Set(batch.map((claim) => claim.key))])
        .execute();
      owned = new Set(stored.map((row) => row.operation_id));
    }
    return batch.map((claim) => owned.has(claim.operationId));
  }

  async function storeAnswers(batch: readonly Answer[]): Promise<undefined[]> {
    // The first answer stored is the key's answer for good. A request whose
    // lease ran out and was taken over may still finish later (two runs of one
    // operation id, possibly two answers): whichever of them stores second
    // leaves the row as it is, so every replay says what the first client was
    // told. One row per key within a batch too (the first wins), since a
    // single statement must not touch a row twice.
    const first = new Map<string, Answer>();
    for (const answer of batch) {
      const id = `${answer.userUuid} ${answer.key}`;
      if (!first.has(id)) first.set(id, answer);
    }
    const last = first;
    const rows = [...last.values()].map((answer) => ({
      user_uuid: answer.userUuid,
      idem_key: answer.key,
      request_hash: answer.hash,
      operation_id: answer.operationId,
      state: 'DONE' as const,
      status_code: answer.statusCode,
      response_body: JSON.stringify(answer.body),
      locked_until: new Date(),
    }));
    const insert = db.insertInto('idempotency_keys').values(rows);
    await (dialect === 'postgres'
      ? insert.onConflict((conflict) =>
          conflict
            .columns(['user_uuid', 'idem_key'])
            .doUpdateSet((eb) => ({
              state: 'DONE',
              status_code: eb.ref('excluded.status_code'),
              response_body: eb.ref('excluded.response_body'),
            }))
            .where('idempotency_keys.state', '<>', 'DONE'),
        )
      : // MariaDB applies the assignments left to right, each seeing the ones
        // before it: the state, which the others test, is set last.
        insert.onDuplicateKeyUpdate({
          status_code: sql`if(state = 'DONE', status_code, values(status_code))`,
          response_body: sql`if(state = 'DONE', response_body, values(response_body))`,
          state: 'DONE',
        })
    ).execute();
    return batch.map(() => undefined);
  }

  async function claim(
    userUuid: string,
    key: string,
    hash: string,
    operationId: string,
    state: 'PENDING' | 'REMOTE' = 'PENDING',
  ): Promise<boolean> {
    try {
      return await claims.submit({ userUuid, key, hash, operationId, state });
    } catch (error) {
      if (error instanceof GroupCommitFullError) {
        throw new AppError('SERVICE_UNAVAILABLE', 503, 'Too many requests are waiting; retry shortly');
      }
      throw error;
    }
  }

  /** The operation id of a claim whose lease ran out, now ours; undefined when there is none to take. */
  async function takeOverExpired(userUuid: string, key: string, hash: string): Promise<string | undefined> {
    const now = new Date();
    const updated = await db
      .updateTable('idempotency_keys')
      .set({ locked_until: new Date(now.getTime() + leaseMs) })
      .where('user_uuid', '=', userUuid)
      .where('idem_key', '=', key)
      .where('request_hash', '=', hash)
      .where('state', '=', 'PENDING')
      .where('locked_until', '<', now)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return undefined;
    const row = await db
      .selectFrom('idempotency_keys')
      .select('operation_id')
      .where('user_uuid', '=', userUuid)
      .where('idem_key', '=', key)
      .executeTakeFirst();
    return row?.operation_id;
  }

  async function finish(claim: Claim, statusCode: number, body: unknown): Promise<void> {
    await answers.submit({ ...claim, statusCode, body });
  }

  // After a 5xx or an unexpected error the effect may or may not have
  // committed. The claim stays (with its operation id) but its lease ends now,
  // so the client's retry takes it over at once and re-runs the effect under
  // the same id instead of a fresh one.
  async function release(userUuid: string, key: string): Promise<void> {
    await db
      .updateTable('idempotency_keys')
      .set({ locked_until: new Date(0) })
      .where('user_uuid', '=', userUuid)
      .where('idem_key', '=', key)
      .where('state', '=', 'PENDING')
      .execute();
  }

  /** Binds a free key to a refusal (handleInEffect); false when the key was bound already. */
  async function bindRefusal(binding: KeyBinding, operationId: string, error: AppError): Promise<boolean> {
    const row = keyRow(binding, operationId, { statusCode: error.status, body: storedProblemOf(error) });
    const insert = db.insertInto('idempotency_keys').values({ ...row, locked_until: new Date() });
    if (dialect === 'postgres') {
      const inserted = await insert.onConflict((conflict) => conflict.doNothing()).executeTakeFirst();
      return Number(inserted.numInsertedOrUpdatedRows) === 1;
    }
    // Not INSERT IGNORE, which would also turn a value MariaDB refuses into a warning.
    try {
      await insert.execute();
      return true;
    } catch (error) {
      if ((error as { errno?: unknown }).errno === mysqlDuplicateEntryErrno) return false;
      throw error;
    }
  }

  async function runAsOwner(claim: Claim, execute: (operationId: string) => Promise<IdempotentResult>) {
    let result: IdempotentResult;
    try {
      result = await execute(claim.operationId);
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        await finish(claim, error.status, storedProblemOf(error));
      } else {
        await release(claim.userUuid, claim.key).catch(() => undefined);
      }
      throw error;
    }
    await finish(claim, result.statusCode, result.body);
    return result;
  }

  /** The row that holds this key, when it was bound to the same request; otherwise the 4xx to answer. */
  async function boundRequest(
    userUuid: string,
    key: string,
    hash: string,
  ): Promise<Selectable<IdempotencyKeysTable>> {
    const existing = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_uuid', '=', userUuid)
      .where('idem_key', '=', key)
      .executeTakeFirst();
    if (existing === undefined) {
      // Released (a 5xx) between our insert attempt and this read: the client may simply retry.
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        409,
        'A request with this Idempotency-Key just failed; retry',
      );
    }
    if (existing.request_hash !== hash) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        422,
        'This Idempotency-Key was used with a different request',
      );
    }
    return existing;
  }

  /** The first answer again, with Idempotent-Replayed; 409 while the first request still runs. */
  function replayStored(reply: FastifyReply, existing: Selectable<IdempotencyKeysTable>): unknown {
    if (existing.state !== 'DONE' || existing.status_code === null || existing.response_body === null) {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        409,
        'A request with this Idempotency-Key is still in progress',
        { retryAfterSeconds: Math.max(1, Math.ceil(leaseMs / 1_000 / 10)) },
      );
    }
    reply.header(idempotentReplayedHeader, 'true');
    const body = JSON.parse(existing.response_body) as unknown;
    if (isStoredProblem(body)) {
      throw new AppError(body.problem.code, existing.status_code, body.problem.detail, body.problem.extra);
    }
    return respond(reply, { statusCode: existing.status_code, body });
  }

  return {
    async handle(request, reply, userUuid, execute) {
      const key = readIdempotencyKey(request);
      if (key === undefined) return respond(reply, await execute(uuidv7()));
      const hash = requestFingerprint(request);
      const freshId = uuidv7();
      const operationId = (await claim(userUuid, key, hash, freshId))
        ? freshId
        : await takeOverExpired(userUuid, key, hash);
      if (operationId !== undefined) {
        return respond(reply, await runAsOwner({ userUuid, key, hash, operationId }, execute));
      }
      return replayStored(reply, await boundRequest(userUuid, key, hash));
    },

    async handleDelegated(request, reply, userUuid, execute) {
      const key = readIdempotencyKey(request);
      if (key === undefined) return respond(reply, await execute(false));
      const hash = requestFingerprint(request);
      if (await claim(userUuid, key, hash, uuidv7(), 'REMOTE')) return respond(reply, await execute(false));
      const existing = await boundRequest(userUuid, key, hash);
      if (existing.state === 'REMOTE') return respond(reply, await execute(true));
      return replayStored(reply, existing);
    },

    async handleInEffect(request, reply, userUuid, execute) {
      const key = readIdempotencyKey(request);
      const binding =
        key === undefined ? undefined : { userUuid, key, requestHash: requestFingerprint(request) };
      const operationId = uuidv7();
      let result: IdempotentResult | typeof keyTaken;
      try {
        result = await execute(operationId, binding);
      } catch (error) {
        // A refusal is an outcome: bound to the key like an answer, unless the key is bound already.
        if (binding !== undefined && error instanceof AppError && error.status < 500) {
          if (!(await bindRefusal(binding, operationId, error))) {
            return replayStored(reply, await boundRequest(userUuid, binding.key, binding.requestHash));
          }
        }
        throw error;
      }
      if (result !== keyTaken) return respond(reply, result);
      if (binding === undefined) throw new Error('keyTaken answered for a request without a key');
      const existing = await boundRequest(userUuid, binding.key, binding.requestHash);
      // A claim `handle` left PENDING (a route that used it before, during a rolling
      // upgrade) whose owner died: taken over and run as `handle` runs it, under the
      // claim's operation id, so an effect that did commit is found, not repeated.
      const expired = existing.state === 'PENDING' && existing.locked_until.getTime() < Date.now();
      const claimed = expired ? await takeOverExpired(userUuid, binding.key, binding.requestHash) : undefined;
      if (claimed !== undefined) {
        const claim = { userUuid, key: binding.key, hash: binding.requestHash, operationId: claimed };
        return respond(
          reply,
          await runAsOwner(claim, async (id) => {
            const again = await execute(id, undefined);
            if (again === keyTaken) throw new Error('keyTaken answered for a request without a key');
            return again;
          }),
        );
      }
      return replayStored(
        reply,
        expired ? await boundRequest(userUuid, binding.key, binding.requestHash) : existing,
      );
    },

    async purgeExpired(batchSizeMax = 1_000) {
      const cutoff = new Date(Date.now() - retentionMs);
      const expired = await db
        .selectFrom('idempotency_keys')
        .select(['user_uuid', 'idem_key'])
        .where('created_at', '<', cutoff)
        .limit(batchSizeMax)
        .execute();
      let deleted = 0;
      for (const row of expired) {
        const result = await db
          .deleteFrom('idempotency_keys')
          .where('user_uuid', '=', row.user_uuid)
          .where('idem_key', '=', row.idem_key)
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    },
  };
}

function storedProblemOf(error: AppError): StoredProblem {
  return { problem: { code: error.code, detail: error.detail, extra: { ...error.extra } } };
}

function respond(reply: FastifyReply, result: IdempotentResult): unknown {
  reply.code(result.statusCode);
  return result.body;
}

function isStoredProblem(body: unknown): body is StoredProblem {
  return typeof body === 'object' && body !== null && 'problem' in body && Object.keys(body).length === 1;
}
