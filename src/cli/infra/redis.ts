import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CliError, say } from '../log.ts';
import { cacheDir } from '../paths.ts';
import { hasCommand, run, waitUntil } from '../process.ts';
import { type Component, composeHint, isLocalHost } from './component.ts';

const probeTimeoutMs = 1_500;
const startTimeoutMs = 15_000;

export function redisComponent(url: string): Component {
  const parsed = new URL(url);
  const host = parsed.hostname || '127.0.0.1';
  const port = Number(parsed.port || '6379');
  return {
    name: 'redis',
    address: `${host}:${port}`,
    probe: () => probeRedis(host, port),
    async stop() {
      say(`stopping Redis on ${host}:${port} (started by nuri)`);
      return sendRedisCommand(host, port, ['SHUTDOWN', 'NOSAVE']);
    },
    async start() {
      if (!isLocalHost(host)) {
        throw new CliError(
          `Redis does not answer at ${host}:${port}; it is not local, so nuri will not start it.`,
        );
      }
      if (!hasCommand('redis-server')) {
        throw new CliError(
          `Redis is not running and not installed. Install it with \`apt-get install redis-server\` (Debian/Ubuntu), ${composeHint}.`,
        );
      }
      const dir = join(cacheDir, 'redis');
      mkdirSync(dir, { recursive: true });
      say(`starting Redis on ${host}:${port}`);
      const result = await run(
        'redis-server',
        [
          '--daemonize',
          'yes',
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--logfile',
          join(dir, 'redis.log'),
        ],
        { timeoutMs: startTimeoutMs },
      );
      if (result.code !== 0)
        throw new CliError(`could not start Redis: ${result.stderr.trim() || result.stdout.trim()}`);
      if (!(await waitUntil(async () => (await probeRedis(host, port)) !== null, startTimeoutMs))) {
        throw new CliError(
          `Redis was started but does not answer at ${host}:${port} within ${startTimeoutMs} ms.`,
        );
      }
    },
  };
}

/** Sends one command and resolves true once the server closed the connection (what SHUTDOWN does). */
function sendRedisCommand(host: string, port: number, words: string[]): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    socket.setTimeout(probeTimeoutMs, () => {
      socket.destroy();
      resolvePromise(false);
    });
    socket.on('error', () => resolvePromise(false));
    socket.on('close', () => resolvePromise(true));
    socket.on('connect', () => {
      socket.write(`*${words.length}\r\n${words.map((word) => `$${word.length}\r\n${word}\r\n`).join('')}`);
    });
  });
}

/** One raw RESP round trip (INFO server): no client library, no retry loop to tame. */
function probeRedis(host: string, port: number): Promise<string | null> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (value: string | null) => {
      socket.destroy();
      resolvePromise(value);
    };
    socket.setTimeout(probeTimeoutMs, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('connect', () => socket.write('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.startsWith('-')) return finish(null);
      const match = /redis_version:([^\r\n]+)/.exec(reply);
      if (match) finish(`Redis ${match[1]}`);
    });
  });
}
