// The bare-route ceiling: a Fastify server with one route and nothing else
// (no logger, hooks, schemas, auth or database), as its own process like a
// service. It listens on a free port and tells its parent which one.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ ok: true }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
// The suite gone (its IPC channel closed) means nobody will stop this server.
process.once('disconnect', () => process.exit(0));
