// OpenAPI generated from the route schemas (the same schemas validate requests and serialize
// responses), with Swagger UI at /docs. Swagger UI's assets are served by the plugin itself
// (no CDN); its pages carry their own CSP (staticCSP).
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { PREDICT_BODIES } from '../routes/schemas.ts';

type OpenApiDocument = { paths?: Record<string, { post?: { requestBody?: { content?: Record<string, unknown> } } }> };

/** Adds the body kinds of POST /predict, which are documented but checked in code (schemas.ts says why). */
function addPredictBodies(document: OpenApiDocument): OpenApiDocument {
  const post = document.paths?.['/predict']?.post;
  if (post) post.requestBody = { content: { ...PREDICT_BODIES } };
  return document;
}

export const docsPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'resnet-serve',
          description:
            'Image classification with ResNet: POST /predict and the KServe V2 (Open Inference Protocol) REST API.',
          version: '0.1.0',
        },
        tags: [
          { name: 'predict', description: 'Classify images' },
          { name: 'v2', description: 'KServe V2 / Open Inference Protocol' },
        ],
      },
      transformObject: (documents) => {
        if (!('openapiObject' in documents)) return documents.swaggerObject;
        addPredictBodies(documents.openapiObject as OpenApiDocument);
        return documents.openapiObject;
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  },
  { name: 'docs' },
);
