// POST /predict?model=&version=&topk=5: classify one or more images (docs/api.md) with
// the model the registry finds for the query. An encapsulated plugin: the multipart and raw-image
// body parsers exist only on this route.
import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import { topK } from '../../model/runtime/postprocess.ts';
import type { NamedImage } from '../classifier/classifier.ts';
import { modelNotice, predictionSchema } from './schemas.ts';
import {
  RAW_IMAGE_TYPES,
  checkDeclaredLength,
  jsonImages,
  multipartImages,
  readBody,
  unsupportedBody,
} from './predict-bodies.ts';
import { acceptingWork, queryTarget, workOptions } from './work-context.ts';

export const DEFAULT_TOPK = 5;

function imagesOf(app: FastifyInstance, request: FastifyRequest): AsyncIterable<NamedImage> | Iterable<NamedImage> {
  if (request.isMultipart()) return multipartImages(app, request);
  if (Buffer.isBuffer(request.body)) return request.body.length === 0 ? [] : [{ name: '0', bytes: request.body }];
  // No body at all: nothing to classify. Anything else here came through the JSON parser.
  if (request.body === undefined) return [];
  return jsonImages(app, request.body);
}

/** topk for a model with `classes` classes: the request's (at most `classes`), else the default. */
function topkFor(requested: number | undefined, classes: number): number {
  if (requested === undefined) return Math.min(DEFAULT_TOPK, classes);
  if (requested > classes)
    throw errors.INVALID_PARAMETER(`querystring/topk must be <= ${classes}, the model's classes`);
  return requested;
}

export async function predictRoutes(app: FastifyInstance): Promise<void> {
  const { maxImageBytes, maxBodyBytes } = app.config;
  const tooLarge = () => errors.IMAGE_TOO_LARGE(String(maxImageBytes));

  await app.register(multipart, { limits: { fileSize: maxImageBytes } });
  // Plain text is not an image; without its default parser it gets 415 like any other type.
  app.removeContentTypeParser('text/plain');
  // Any other type (or none) is refused before its body is read, with what the route takes instead.
  app.addContentTypeParser('*', (request, _payload, done) => done(unsupportedBody(request.headers['content-type'])));
  app.addContentTypeParser([...RAW_IMAGE_TYPES], async (request: FastifyRequest, payload: Readable) => {
    checkDeclaredLength(request, maxImageBytes, tooLarge);
    return readBody(payload, maxImageBytes, tooLarge);
  });

  app.post('/predict', {
    bodyLimit: maxBodyBytes,
    onRequest: acceptingWork(queryTarget),
    schema: predictionSchema(DEFAULT_TOPK),
    handler: async (request: FastifyRequest<{ Querystring: { topk?: number } }>, reply: FastifyReply) => {
      const { name, version } = queryTarget(request);
      // Asked again (not kept from the gate): a version retired since then is no longer found.
      const classifier = app.registry.resolve(name, version);
      const { labels } = classifier;
      const k = topkFor(request.query.topk, labels.length);
      const results = await classifier.classifyImages(
        imagesOf(app, request),
        workOptions(app, request, reply, 'predict'),
      );
      return {
        model: classifier.name,
        version: String(classifier.version),
        ...modelNotice(classifier.manifest),
        results: results.map(({ name: image, probabilities }) => ({
          name: image,
          predictions: topK(probabilities, k, labels),
        })),
      };
    },
  });
}
