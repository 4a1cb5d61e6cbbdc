// GET /: the upload page, rendered for the models served at the time of the request (a
// repository may load and unload them), served with its own strict CSP. GET /favicon.ico answers
// 204 so browsers do not log a 404.
import type { FastifyInstance } from 'fastify';
import type { ModelRegistry } from '../classifier/registry.ts';
import { PAGE_CSP, renderUploadPage, type PageModel } from './upload-page-html.ts';

function servedModels(registry: ModelRegistry): PageModel[] {
  return registry.servedModels().map((name) => {
    const classifier = registry.resolve(name);
    const { manifest } = classifier;
    return {
      name,
      version: classifier.version,
      trained: manifest.weights.trained,
      classes: manifest.labels.length,
      precision: manifest.precision,
    };
  });
}

/** The model the page preselects: the one /predict uses without ?model=, when there is one. */
function defaultModel(registry: ModelRegistry): string | undefined {
  try {
    return registry.resolve().name;
  } catch {
    return undefined;
  }
}

export async function uploadPageRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const html = renderUploadPage(servedModels(app.registry), defaultModel(app.registry));
    reply.header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store');
    return reply.type('text/html; charset=utf-8').send(html);
  });
  app.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) => reply.code(204).send());
}
