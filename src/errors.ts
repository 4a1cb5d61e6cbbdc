// One registry of the errors a client can see: a stable code (published API: tests and clients
// assert codes, never message text) and its HTTP status. Modelled on fastify's lib/errors.js with
// @fastify/error. Any layer may throw these; the server's one error handler renders them.
import createError from '@fastify/error';

export const errors = {
  // 400: malformed request or undecodable image
  IMAGE_UNDECODABLE: createError('IMAGE_UNDECODABLE', 'Image could not be decoded: %s', 400),
  NO_IMAGES: createError('NO_IMAGES', 'The request holds no image', 400),
  INVALID_JSON: createError('INVALID_JSON', 'Body is not valid JSON: %s', 400),
  INVALID_BASE64: createError('INVALID_BASE64', 'Image %s is not valid base64', 400),
  INVALID_PARAMETER: createError('INVALID_PARAMETER', 'Invalid parameter: %s', 400),
  INVALID_TENSOR: createError('INVALID_TENSOR', 'Invalid tensor: %s', 400),
  MALFORMED_BODY: createError('MALFORMED_BODY', 'Request body is malformed: %s', 400),
  MODEL_REQUIRED: createError('MODEL_REQUIRED', 'Name the model (?model=): this server serves %s', 400),
  MODEL_NAME_INVALID: createError('MODEL_NAME_INVALID', 'Model name %s is not valid: %s', 400),
  PARAMETER_NOT_ALLOWED: createError('PARAMETER_NOT_ALLOWED', 'Parameter %s is not accepted: %s', 400),
  MODEL_LOAD_FAILED: createError('MODEL_LOAD_FAILED', 'Model %s could not be loaded: %s', 400),
  // 401 and 403: the repository's management API (load, unload)
  UNAUTHORIZED: createError(
    'UNAUTHORIZED',
    'This route needs the repository API token (REPOSITORY_API_TOKEN) as "Authorization: Bearer <token>"',
    401,
  ),
  LOOPBACK_ONLY: createError(
    'LOOPBACK_ONLY',
    'Without REPOSITORY_API_TOKEN set, this route answers clients on the loopback interface only',
    403,
  ),
  ORIGIN_REFUSED: createError(
    'ORIGIN_REFUSED',
    'This route does not answer browser requests (they carry an Origin header); call it from a tool',
    403,
  ),
  MODEL_CONTROL_DISABLED: createError(
    'MODEL_CONTROL_DISABLED',
    'Loading and unloading models needs MODEL_CONTROL_MODE=explicit and a MODEL_REPOSITORY; this server runs in %s mode',
    403,
  ),
  // 404
  NOT_FOUND: createError('NOT_FOUND', 'Route %s not found', 404),
  MODEL_NOT_FOUND: createError('MODEL_NOT_FOUND', 'Model %s not found', 404),
  // 405: a known path asked with another method (sent with Allow)
  METHOD_NOT_ALLOWED: createError('METHOD_NOT_ALLOWED', '%s is not allowed on %s; use %s', 405),
  // 408: a client that sends its body too slowly
  REQUEST_TIMEOUT: createError('REQUEST_TIMEOUT', 'The request body did not arrive in time', 408),
  // 413: body, file, image count or pixel count over its limit
  BODY_TOO_LARGE: createError('BODY_TOO_LARGE', 'Request body is larger than %s bytes', 413),
  IMAGE_TOO_LARGE: createError('IMAGE_TOO_LARGE', 'Image is larger than %s bytes', 413),
  IMAGE_TOO_MANY_PIXELS: createError('IMAGE_TOO_MANY_PIXELS', 'Image has %s pixels; the limit is %s', 413),
  TOO_MANY_IMAGES: createError('TOO_MANY_IMAGES', 'Request holds more than %s images', 413),
  // 431: gRPC metadata (HTTP/2 headers) over its limit
  METADATA_TOO_LARGE: createError('METADATA_TOO_LARGE', 'Request metadata is larger than %s bytes', 431),
  // 415: unsupported content or image type
  // (the second %s says what is accepted instead)
  UNSUPPORTED_MEDIA_TYPE: createError('UNSUPPORTED_MEDIA_TYPE', 'Content type %s is not supported: %s', 415),
  UNSUPPORTED_IMAGE_FORMAT: createError('UNSUPPORTED_IMAGE_FORMAT', 'Image format %s is not supported: send %s', 415),
  // 503 (sent with Retry-After) and 504. The load-shedding ones are outcomes, not bugs, and an
  // overloaded server makes hundreds a second: they capture no stack trace (Error.captureStackTrace
  // was about a tenth of a refusal's main-thread time).
  QUEUE_FULL: createError('QUEUE_FULL', 'The inference queue is full', 503, Error, false),
  NOT_READY: createError('NOT_READY', 'The model is not ready', 503, Error, false),
  MODEL_UNAVAILABLE: createError('MODEL_UNAVAILABLE', 'Model %s is unavailable: %s', 503),
  SHUTTING_DOWN: createError('SHUTTING_DOWN', 'The server is shutting down', 503, Error, false),
  WORKER_FAILED: createError('WORKER_FAILED', 'The inference worker failed while computing this batch', 503),
  DEADLINE_EXCEEDED: createError(
    'DEADLINE_EXCEEDED',
    'The request deadline passed while it was queued',
    504,
    Error,
    false,
  ),
  CANCELLED: createError('CANCELLED', 'The request was cancelled', 499, Error, false),
  // 500: bugs only; the message is never sent to clients
  INTERNAL: createError('INTERNAL', 'Internal server error', 500),
} as const;

export type ErrorCode = keyof typeof errors;

/** An error from the registry: it has a stable `code` and an HTTP `statusCode`. */
export interface ServiceError extends Error {
  code: ErrorCode;
  statusCode: number;
}

export function isServiceError(err: unknown): err is ServiceError {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(errors, code);
}
