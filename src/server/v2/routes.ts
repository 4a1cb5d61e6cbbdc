// KServe V2 / Open Inference Protocol REST routes (kserve docs/predict-api/v2/required_api.md):
// server metadata, health, model metadata and readiness, and inference, each with an optional
// /versions/{v} segment, answered by the classifier the registry finds for the URL; and Triton's
// model repository extension (repository-routes.ts). Errors are {"error": "<message>"} (the error
// handler renders them so for every /v2 URL). Health answers 200 for true; false is 503 with
// Retry-After (stock clients only test for 200).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import type { Classifier } from '../classifier/classifier.ts';
import { acceptingWork, paramsTarget, workOptions } from '../routes/work-context.ts';
import { tensorRows } from './infer-input.ts';
import { parseInferRequest, splitBody } from './infer-request.ts';
import { encodeInferResponse, type RowOutputs } from './infer-response.ts';
import { modelMetadata } from './model-metadata.ts';
import { repositoryRoutes } from './repository-routes.ts';

export const SERVER_NAME = 'resnet-serve';
export const SERVER_VERSION = '0.1.0';
/** Extensions reported in server metadata (Triton's names). */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_repository'] as const;

// Schemas for validation, serialization and /docs (the protocol's $metadata_* objects).
const errorSchema = { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } as const;
const tensorSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    datatype: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
  },
} as const;
const errors4xx5xx = { '4xx': errorSchema, '5xx': errorSchema } as const;
const health = (summary: string, url?: string) => ({
  tags: ['v2'],
  summary,
  ...(url === undefined ? {} : { params: paramsOf(url) }),
  response: { 200: { type: 'null', description: 'true (empty body)' }, ...errors4xx5xx },
});

const modelParam = { model: { type: 'string' } } as const;
const paramsOf = (url: string) => ({
  type: 'object',
  properties: url.includes(':version') ? { ...modelParam, version: { type: 'string' } } : modelParam,
});

function modelRoutes(path: string): string[] {
  return [`/models/:model${path}`, `/models/:model/versions/:version${path}`];
}

export async function v2Routes(app: FastifyInstance): Promise<void> {
  // Inference bodies are JSON, or JSON + binary tensors; stock clients may send no Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: app.config.maxBodyBytes }, (_request, body, done) =>
    done(null, body),
  );

  const { registry } = app;
  const notReady = () => (registry.shuttingDown ? errors.SHUTTING_DOWN() : errors.NOT_READY());
  const classifierOf = (request: FastifyRequest): Classifier => {
    const { name, version } = paramsTarget(request);
    return registry.resolve(name, version);
  };
  // Unknown models and versions are 404 before anything else is looked at.
  const checkModel = async (request: FastifyRequest): Promise<void> => void classifierOf(request);
  const tags = ['v2'];
  const serverMetadata = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      extensions: { type: 'array', items: { type: 'string' } },
    },
  } as const;
  const modelMetadataSchema = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      versions: { type: 'array', items: { type: 'string' } },
      platform: { type: 'string' },
      // Not in the V2 protocol's model metadata: this service's `fp32` or `int8` (clients ignore unknown fields).
      precision: { type: 'string' },
      inputs: { type: 'array', items: tensorSchema },
      outputs: { type: 'array', items: tensorSchema },
    },
  } as const;

  app.get(
    '',
    { schema: { tags, summary: 'Server metadata', response: { 200: serverMetadata, ...errors4xx5xx } } },
    async () => ({
      name: SERVER_NAME,
      version: SERVER_VERSION,
      extensions: [...EXTENSIONS],
    }),
  );
  app.get('/health/live', { schema: health('Server live (200 while the process serves)') }, async (_request, reply) =>
    reply.code(200).send(),
  );
  app.get(
    '/health/ready',
    { schema: health('Server ready (every model loaded at start is warm, not draining)') },
    async (_request, reply) => {
      if (!registry.ready()) throw notReady();
      return reply.code(200).send();
    },
  );
  for (const url of modelRoutes('/ready')) {
    app.get(url, { onRequest: checkModel, schema: health('Model ready', url) }, async (request, reply) => {
      const classifier = classifierOf(request);
      if (registry.shuttingDown) throw notReady();
      const unavailable = classifier.unavailable();
      if (unavailable) throw unavailable;
      return reply.code(200).send();
    });
  }
  for (const url of modelRoutes('')) {
    app.get(
      url,
      {
        onRequest: checkModel,
        schema: {
          tags,
          summary: 'Model metadata',
          params: paramsOf(url),
          response: { 200: modelMetadataSchema, ...errors4xx5xx },
        },
      },
      async (request) => {
        const classifier = classifierOf(request);
        return modelMetadata(classifier, registry.servedVersions(classifier.name));
      },
    );
  }
  for (const url of modelRoutes('/infer')) {
    app.post(url, {
      onRequest: acceptingWork(paramsTarget),
      // The body is JSON, or JSON + binary tensors: parsed and checked in infer-request.ts.
      schema: {
        tags,
        summary: 'Inference: FP32 "input" [N,3,224,224] (JSON or binary) or a BYTES tensor of encoded images',
        params: paramsOf(url),
      },
      handler: (request, reply) => infer(app, classifierOf(request), request, reply),
    });
  }
  await app.register(repositoryRoutes, { prefix: '/repository' });
}

async function infer(
  app: FastifyInstance,
  classifier: Classifier,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const { json, binary } = splitBody(body, request.headers['inference-header-content-length']);
  const parsed = parseInferRequest(json, binary, classifier.manifest, app.config);
  // Triton's `timeout` parameter is in microseconds; it is capped like the header.
  const deadlineMs =
    parsed.timeoutUs === undefined
      ? undefined
      : Math.min(Math.ceil(parsed.timeoutUs / 1000), app.config.maxRequestTimeoutMs);
  const options = workOptions(app, request, reply, 'v2', deadlineMs);
  const { input } = parsed;
  const rows: RowOutputs[] =
    input.kind === 'images'
      ? await classifier.classifyImages(input.images, options)
      : await classifier.inferTensors(tensorRows(input), options);
  const encoded = encodeInferResponse(rows, parsed.outputs, {
    modelName: classifier.name,
    modelVersion: String(classifier.version),
    labels: classifier.labels,
    ...(parsed.id === undefined ? {} : { id: parsed.id }),
  });
  if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
  return reply.type(encoded.contentType).send(encoded.body);
}
