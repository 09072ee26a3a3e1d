// A raw HTTP/1.1 client over a TCP socket: fetch and node:http refuse to send
// what a hostile client sends (header floods, control characters in values,
// bodies that do not match their length, requests that never finish), and
// the fuzzer must send exactly that, then read whatever comes back.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawRequest {
  method: string;
  /** Path and query, sent as they are (no encoding). */
  target: string;
  headers: ReadonlyArray<readonly [string, string]>;
  body?: string | Buffer;
  /** Sends the body's length in Content-Length (default); false leaves it out. */
  contentLength?: boolean;
}

export interface RawAnswer {
  /** 0 when the connection closed (or timed out) before a status line. */
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
  /** Why there is no answer, when there is none. */
  failure?: string;
}

const answerTimeoutMs = 20_000;
const answerBytesMax = 1_000_000;

/** Sends one request on a connection of its own (Connection: close) and reads the answer. */
export function send(port: number, request: RawRequest, timeoutMs = answerTimeoutMs): Promise<RawAnswer> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (body !== undefined && request.contentLength !== false) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return exchange(port, [body === undefined ? head : Buffer.concat([head, body])], timeoutMs);
}

/** Writes the chunks in turn (a pause between them when asked), then reads the answer. */
export function exchange(
  port: number,
  chunks: readonly Buffer[],
  timeoutMs = answerTimeoutMs,
  pauseMs = 0,
): Promise<RawAnswer> {
  const started = Date.now();
  return new Promise((resolveAnswer) => {
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (failure?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      clearTimeout(timer);
      resolveAnswer({
        ...parse(Buffer.concat(received)),
        ms: Date.now() - started,
        ...(failure ? { failure } : {}),
      });
    };
    const timer = setTimeout(() => finish('timed out'), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      size += chunk.length;
      // A complete answer ends the exchange, whether or not the server closes the connection.
      if (size > answerBytesMax || isComplete(Buffer.concat(received))) finish();
    });
    socket.on('error', (error) => finish((error as NodeJS.ErrnoException).code ?? error.message));
    socket.on('close', () => finish(received.length === 0 ? 'closed without an answer' : undefined));
    socket.on('connect', () => void writeAll(socket, chunks, pauseMs));
  });
}

async function writeAll(socket: Socket, chunks: readonly Buffer[], pauseMs: number): Promise<void> {
  for (const [index, chunk] of chunks.entries()) {
    if (socket.destroyed) return;
    socket.write(chunk);
    if (pauseMs > 0 && index < chunks.length - 1) await sleep(pauseMs);
  }
}

/** The whole answer is in: its headers and as much body as Content-Length says, or the last chunk. */
function isComplete(raw: Buffer): boolean {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const head = raw.subarray(0, headEnd).toString('latin1').toLowerCase();
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length !== null) return raw.length - headEnd - 4 >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/.test(head)) return raw.subarray(headEnd).includes('\r\n0\r\n\r\n');
  return false;
}

function parse(raw: Buffer): Omit<RawAnswer, 'ms'> {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headEnd < 0 ? raw.length : headEnd).toString('latin1');
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (statusMatch === null) return { status: 0, headers: {}, body: '' };
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = headEnd < 0 ? Buffer.alloc(0) : raw.subarray(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status: Number(statusMatch[1]), headers, body: body.toString('utf8') };
}

/** Chunk sizes count bytes: the body is joined as bytes, then decoded. */
function unchunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let rest = raw;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) break;
    const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    rest = rest.subarray(lineEnd + 2 + size + 2);
  }
  return Buffer.concat(parts);
}
