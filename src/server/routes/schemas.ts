// JSON schemas of the /predict route: validation, response serialization and the OpenAPI
// document at /docs all come from these.
import type { ModelManifest } from '../../model/manifest.ts';

export const UNTRAINED_WARNING =
  'This model has seeded (untrained) weights: its predictions are meaningless. Build a model from real weights (MODEL_WEIGHTS) for real predictions.';

/** What every response carrying predictions says about the weights (every place that shows predictions says so). */
export function modelNotice(manifest: ModelManifest): { weights: 'trained' | 'seeded'; warning?: string } {
  return manifest.weights.trained ? { weights: 'trained' } : { weights: 'seeded', warning: UNTRAINED_WARNING };
}

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable error code (published API)' },
        message: { type: 'string' },
      },
    },
  },
} as const;

const predictionsSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['index', 'label', 'score'],
    properties: { index: { type: 'integer' }, label: { type: 'string' }, score: { type: 'number' } },
  },
} as const;

const responseSchema = {
  type: 'object',
  required: ['model', 'version', 'weights', 'results'],
  properties: {
    model: { type: 'string', description: 'The model that classified the images' },
    version: { type: 'string', description: 'Its version' },
    weights: { type: 'string', enum: ['trained', 'seeded'] },
    warning: { type: 'string', description: 'Present when the weights are seeded (untrained)' },
    results: {
      type: 'array',
      description: 'One result per image, in request order',
      items: {
        type: 'object',
        required: ['name', 'predictions'],
        properties: {
          name: { type: 'string', description: 'The file name (multipart) or the image index' },
          predictions: { ...predictionsSchema, description: 'Top-k classes, scores descending' },
        },
      },
    },
  },
} as const;

const jsonBodySchema = {
  type: 'object',
  required: ['images'],
  additionalProperties: false,
  properties: {
    images: { type: 'array', items: { type: 'string', description: 'base64 (or a data: URL) of an encoded image' } },
  },
} as const;

const binaryBody = { schema: { type: 'string', format: 'binary', description: 'The encoded image' } };

/**
 * The request bodies of POST /predict, for the OpenAPI document only (docs.ts adds them): raw and
 * multipart bodies are streamed, and fastify's Ajv coerces types and drops unknown properties
 * (`[1]` would pass as `["1"]`), so the JSON body is checked in code (predict-bodies.ts) to refuse
 * such bodies with 400 INVALID_PARAMETER.
 */
export const PREDICT_BODIES = {
  'application/json': { schema: jsonBodySchema },
  'multipart/form-data': {
    schema: {
      type: 'object',
      properties: {
        image: {
          type: 'array',
          items: { type: 'string', format: 'binary' },
          description: 'Every file part is an image, whatever its field name',
        },
      },
    },
  },
  'image/jpeg': binaryBody,
  'image/png': binaryBody,
  'image/webp': binaryBody,
  'image/gif': binaryBody,
  'image/avif': binaryBody,
  'image/tiff': binaryBody,
  'application/octet-stream': binaryBody,
} as const;

/** The most classes a model can have (the builder's limit): topk is checked against the model's own count. */
export const MAX_TOPK = 100_000;

export function predictionSchema(defaultTopk: number) {
  return {
    summary: 'Classify images',
    description:
      'Send images as multipart/form-data (every file part is an image), as a raw image body, or as JSON {"images": [base64, ...]}. ' +
      'One result per image, in request order. ?model= and ?version= pick the model.',
    tags: ['predict'],
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: {
          type: 'string',
          description: 'The model to use (GET /v2/repository/index lists them); default DEFAULT_MODEL or the only one',
        },
        version: { type: 'string', description: "The model's version; default its highest ready version" },
        topk: {
          type: 'integer',
          minimum: 1,
          maximum: MAX_TOPK,
          description: `How many classes per image, up to the model's number of classes (default ${defaultTopk}, or all classes when fewer)`,
        },
        timeout_ms: {
          type: 'integer',
          minimum: 1,
          description: 'Queue deadline in ms (capped by MAX_REQUEST_TIMEOUT_MS); also header X-Request-Timeout-Ms',
        },
      },
    },
    response: {
      200: responseSchema,
      '4xx': errorSchema,
      '5xx': errorSchema,
    },
  };
}
