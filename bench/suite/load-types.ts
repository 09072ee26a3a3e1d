// What the suite asks of the load generator (load-worker.ts, a child process)
// and what it answers. Plain data: it crosses the IPC channel as JSON.
import type { LatencySummary } from './stats.ts';

/** One request the generator sends; templates are taken round-robin. */
export interface RequestTemplate {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Returned with the response when bodies are collected (which customer, which outcome is expected). */
  tag?: string;
}

export interface LoadSpec {
  /** Origin only: `http://127.0.0.1:port`. */
  url: string;
  /**
   * closed: `connections` each send the next request when the previous is
   * answered (autocannon), for `durationS` or until `amount` are answered.
   * open: `rate` requests per second start on schedule whatever the answers
   * do, for `durationS` (what a crowd of independent clients looks like).
   */
  mode: 'closed' | 'open';
  /**
   * The closed loop's client. autocannon (the default) is the cheapest, but
   * it miscounts the answers of a server that closes the connection after
   * each one (Tomcat does after every 400). node-http: one loop per connection
   * over node:http's keep-alive agent, which opens a new connection when the
   * server closed the last, and counts every answer once.
   */
  driver?: 'autocannon' | 'node-http';
  connections: number;
  durationS?: number;
  amount?: number;
  rate?: number;
  templates: RequestTemplate[];
  /**
   * When set, request n carries `Idempotency-Key: <prefix>-<n>` (and the same
   * key in place of a body's placeholder, requests.ts) so an unanswered one
   * can be re-sent safely.
   */
  idempotencyKeyPrefix?: string;
  /** Return every response's body with its tag and timing (payments, deposits: their ids). */
  collectBodies?: boolean;
  timeoutS: number;
}

export interface SentRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  tag?: string;
}

export interface CollectedResponse {
  tag?: string;
  status: number;
  /** Epoch ms when the request was handed to the socket, and when its answer was complete. */
  sentAtMs: number;
  answeredAtMs: number;
  body: string;
}

export interface CpuShare {
  userMs: number;
  systemMs: number;
  wallMs: number;
  /** (user + system) ÷ wall ÷ cores: the share of the whole machine this process used. */
  machineShare: number;
}

export interface LoadResult {
  startedAtMs: number;
  durationS: number;
  sent: number;
  answered: number;
  statuses: Record<string, number>;
  /** Socket errors and timeouts: requests without an answer (see inDoubt). */
  errors: number;
  timeouts: number;
  latency: LatencySummary;
  /** Answers completed in each second of the load. */
  samples: number[];
  collected: CollectedResponse[];
  /**
   * Sent and never answered: the run ended (autocannon drops what is in
   * flight when time is up) or the socket failed. The effect may or may not
   * have happened; re-sending under the same Idempotency-Key settles which.
   */
  inDoubt: SentRequest[];
  /** The load generator's own CPU. */
  cpu: CpuShare;
  /** Connections the node-http driver opened (more than `connections` when the server closed some). */
  connectionsOpened?: number;
}

export type WorkerMessage =
  | { type: 'progress'; elapsedS: number; answered: number }
  | { type: 'result'; result: LoadResult }
  | { type: 'failed'; message: string };
