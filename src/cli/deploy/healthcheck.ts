// The images' HEALTHCHECK: GET /health/live on this container's own port
// (argv[2]), exit 0 on a 200 within two seconds, 1 otherwise. Liveness by
// default: an engine may restart an unhealthy container, and a service whose
// database is away should wait, not restart. Compose's depends_on asks for
// readiness (argv[3] = /health/ready): a dependent starts once it can serve.
import { request } from 'node:http';

const port = Number(process.argv[2]);
const path = process.argv[3] === '/health/ready' ? '/health/ready' : '/health/live';
const timeoutMs = 2_000;

const probe = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (response) => {
  response.resume();
  process.exitCode = response.statusCode === 200 ? 0 : 1;
});
probe.on('timeout', () => probe.destroy(new Error(`no answer within ${timeoutMs} ms`)));
probe.on('error', (error) => {
  process.stderr.write(`healthcheck: ${error.message}\n`);
  process.exitCode = 1;
});
probe.end();
