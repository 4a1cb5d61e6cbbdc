// CORS, off unless CORS_ORIGIN is set: then that origin (or `*`) may call the API from a browser.
// Preflights are answered here; no credentials are allowed (the API has no cookies or auth).
import fp from 'fastify-plugin';

const ALLOWED_METHODS = 'GET, POST, OPTIONS';
const ALLOWED_HEADERS = 'content-type, inference-header-content-length, x-request-id, x-request-timeout-ms';
const EXPOSED_HEADERS = 'inference-header-content-length, retry-after, x-error-code, x-request-id';

export const corsPlugin = fp<{ origin: string | undefined }>(
  async (app, { origin }) => {
    if (origin === undefined) return;
    app.addHook('onRequest', async (request, reply) => {
      const requestOrigin = request.headers.origin;
      if (requestOrigin === undefined) return;
      if (origin !== '*' && requestOrigin !== origin) return;
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
      if (origin !== '*') reply.header('vary', 'Origin');
      if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
        reply.header('access-control-allow-methods', ALLOWED_METHODS);
        reply.header('access-control-allow-headers', ALLOWED_HEADERS);
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    });
  },
  { name: 'cors' },
);
