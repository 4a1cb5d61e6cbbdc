// POST /predict?topk=5: classify one or more images (DESIGN.md "HTTP API"). An encapsulated
// plugin: the multipart and raw-image body parsers exist only on this route.
import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import { topK } from '../../model/runtime/postprocess.ts';
import { classifyImages, workContext, type NamedImage } from '../classify.ts';
import { acceptingWork } from '../plugins/engine.ts';
import { modelNotice, predictionSchema } from './schemas.ts';
import { RAW_IMAGE_TYPES, checkDeclaredLength, jsonImages, multipartImages, readBody } from './predict-bodies.ts';

export const DEFAULT_TOPK = 5;

function imagesOf(app: FastifyInstance, request: FastifyRequest): AsyncIterable<NamedImage> | Iterable<NamedImage> {
  if (request.isMultipart()) return multipartImages(app, request);
  if (Buffer.isBuffer(request.body)) return request.body.length === 0 ? [] : [{ name: '0', bytes: request.body }];
  // No body at all: nothing to classify. Anything else here came through the JSON parser.
  if (request.body === undefined) return [];
  return jsonImages(app, request.body);
}

export async function predictRoutes(app: FastifyInstance): Promise<void> {
  const { maxImageBytes, maxBodyBytes } = app.config;
  const classes = app.manifest.labels.length;
  const tooLarge = () => errors.IMAGE_TOO_LARGE(String(maxImageBytes));

  await app.register(multipart, { limits: { fileSize: maxImageBytes } });
  // Plain text is not an image; without its default parser it gets 415 like any other type.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser([...RAW_IMAGE_TYPES], async (request: FastifyRequest, payload: Readable) => {
    checkDeclaredLength(request, maxImageBytes, tooLarge);
    return readBody(payload, maxImageBytes, tooLarge);
  });

  app.post('/predict', {
    bodyLimit: maxBodyBytes,
    onRequest: acceptingWork,
    schema: predictionSchema(classes, DEFAULT_TOPK),
    handler: async (request: FastifyRequest<{ Querystring: { topk: number } }>, reply: FastifyReply) => {
      const ctx = workContext(app, request, reply, 'predict');
      const results = await classifyImages(ctx, imagesOf(app, request));
      const { labels } = app.manifest;
      return {
        model: app.config.modelName,
        ...modelNotice(app.manifest),
        results: results.map(({ name, probabilities }) => ({
          name,
          predictions: topK(probabilities, request.query.topk, labels),
        })),
      };
    },
  });
}
