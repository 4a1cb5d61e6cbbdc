// Closing the server does not wait for connections that never carried a request. Browsers open
// spare connections ahead of need (Chromium keeps one to the upload page's origin), and Node's
// server.close() leaves them open: it closes only connections idle after a request, and stops the
// headers timeout that would otherwise end them. app.close() then waited about 100 s for
// Chromium to give its spare up, past SHUTDOWN_TIMEOUT_MS, so one Ctrl-C with the page open ended
// in "killed by timeout" (exit 1). Such connections are destroyed when closing starts; requests in
// flight are not touched.
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';

export const unusedConnectionsPlugin = fp(
  async (app) => {
    const unused = new Set<Socket>();
    app.server.on('connection', (socket: Socket) => {
      unused.add(socket);
      socket.once('close', () => unused.delete(socket));
    });
    app.server.on('request', (request: { socket: Socket }) => unused.delete(request.socket));
    app.addHook('preClose', async () => {
      for (const socket of unused) socket.destroy();
    });
  },
  { name: 'unused-connections' },
);
