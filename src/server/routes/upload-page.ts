// GET /: the upload page, rendered once (the model does not change while the app runs), served
// with its own strict CSP. GET /favicon.ico answers 204 so browsers do not log a 404.
import type { FastifyInstance } from 'fastify';
import { PAGE_CSP, renderUploadPage } from './upload-page-html.ts';

export async function uploadPageRoutes(app: FastifyInstance): Promise<void> {
  const html = renderUploadPage({
    name: app.config.modelName,
    trained: app.manifest.weights.trained,
    classes: app.manifest.labels.length,
    precision: app.manifest.precision,
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store');
    return reply.type('text/html; charset=utf-8').send(html);
  });
  app.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) => reply.code(204).send());
}
