// The one error handler: every error a client sees is rendered from the registry (src/errors.ts),
// as {"error": {"code", "message"}}, or as {"error": "<message>"} on the V2 routes (the Open
// Inference Protocol's error object; the code is in the X-Error-Code header). Fastify's own errors
// and @fastify/multipart's are mapped to registry codes; 5xx messages are never sent; 503s carry
// Retry-After.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errors, isServiceError, type ServiceError } from '../../errors.ts';
import type { Config } from '../config.ts';
import { lingerBeforeClose } from './lingering-close.ts';
import { RouteMethods } from './route-methods.ts';
import { applySecurityHeaders } from './security-headers.ts';

type Factory = (...args: string[]) => ServiceError;
type Limits = Pick<Config, 'maxBodyBytes' | 'maxImageBytes' | 'maxImagesPerRequest'>;
/** What a mapped message may mention: the limits, and the request's content type. */
export interface ErrorContext extends Limits {
  readonly contentType?: string | undefined;
}
const make = (factory: unknown): Factory => factory as Factory;

/** Fastify's and @fastify/multipart's codes, to the registry's. */
const FRAMEWORK_CODES: Readonly<Record<string, (err: FastifyError, context: ErrorContext) => ServiceError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (_, context) => make(errors.BODY_TOO_LARGE)(String(context.maxBodyBytes)),
  // Routes that take bodies say what they take (/predict: predict-bodies.ts); this is any other route.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_, context) =>
    make(errors.UNSUPPORTED_MEDIA_TYPE)(
      JSON.stringify((context.contentType ?? '(none)').slice(0, 100)),
      'this route takes no body of that type (see /docs)',
    ),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => make(errors.INVALID_JSON)('the body is empty'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => make(errors.INVALID_JSON)('the body is not JSON'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => make(errors.MALFORMED_BODY)('its size does not match Content-Length'),
  FST_INVALID_MULTIPART_CONTENT_TYPE: () =>
    make(errors.UNSUPPORTED_MEDIA_TYPE)(
      'multipart/form-data without a boundary',
      'let the client set it (curl -F, a browser FormData) rather than writing the Content-Type by hand',
    ),
  FST_REQ_FILE_TOO_LARGE: (_, context) => make(errors.IMAGE_TOO_LARGE)(String(context.maxImageBytes)),
  FST_FILES_LIMIT: (_, context) => make(errors.TOO_MANY_IMAGES)(String(context.maxImagesPerRequest)),
  FST_PARTS_LIMIT: (_, context) => make(errors.TOO_MANY_IMAGES)(String(context.maxImagesPerRequest)),
  FST_FIELDS_LIMIT: () => make(errors.INVALID_PARAMETER)('multipart fields are not accepted, only files'),
  FST_PROTO_VIOLATION: () => make(errors.INVALID_PARAMETER)('forbidden multipart field name'),
  FST_MP_PREMATURE_CLOSE: () => make(errors.MALFORMED_BODY)('the multipart body ended early'),
  FST_ERR_VALIDATION: (err) => make(errors.INVALID_PARAMETER)(err.message),
  FST_ERR_BAD_URL: () => make(errors.INVALID_PARAMETER)('the URL is malformed'),
  FST_ERR_MAX_PARAM_LENGTH: () => make(errors.INVALID_PARAMETER)('a path segment is too long'),
  // @fastify/static (Swagger UI's assets) refusing a traversal or NUL in the path: not found, not a 500.
  FST_STATIC_FORBIDDEN_PATH: () => make(errors.NOT_FOUND)('under /docs/static'),
};

/** Maps any thrown value to a registry error; unknown errors become INTERNAL. */
export function toServiceError(err: unknown, context: ErrorContext): ServiceError {
  if (isServiceError(err)) return err;
  const fastifyErr = err as Partial<FastifyError>;
  const mapped = fastifyErr.code === undefined ? undefined : FRAMEWORK_CODES[fastifyErr.code];
  if (mapped) return mapped(fastifyErr as FastifyError, context);
  if (fastifyErr.validation) return make(errors.INVALID_PARAMETER)(String(fastifyErr.message));
  // fastify's JSON parser rethrows SyntaxError with statusCode 400
  if (err instanceof SyntaxError && fastifyErr.statusCode === 400)
    return make(errors.INVALID_JSON)('it does not parse');
  // busboy reports malformed multipart bodies as plain Errors (e.g. "Unexpected end of form")
  if (fastifyErr.statusCode === undefined && /multipart|form|boundary/i.test(String(fastifyErr.message))) {
    return make(errors.MALFORMED_BODY)(String(fastifyErr.message));
  }
  return make(errors.INTERNAL)();
}

export function isV2Request(request: FastifyRequest): boolean {
  return request.url === '/v2' || request.url.startsWith('/v2/') || request.url.startsWith('/v2?');
}

const SHEDDING: ReadonlySet<string> = new Set([
  'QUEUE_FULL',
  'NOT_READY',
  'SHUTTING_DOWN',
  'DEADLINE_EXCEEDED',
  'MODEL_UNAVAILABLE',
]);

/** Refusals after which the client may send again on the same connection (draining ones close it). */
const KEEP_ALIVE_REFUSALS: ReadonlySet<string> = new Set(['QUEUE_FULL', 'NOT_READY']);

/** Bodies up to this size are read and dropped after an early refusal rather than closing the connection. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

/**
 * Whether the connection can stay open although the body was not read: a load-shedding refusal
 * answered before the body (onRequest), with a declared length small enough for Node to read and
 * drop after the response. Closing instead makes every refused client reconnect, and under
 * overload that churn cost more than the draining (docs/performance.md, "Overload"). Any other unread body
 * (a parser that failed halfway, a chunked or large upload) closes the connection, gracefully:
 * the rest is dropped until the client stops sending (lingering-close.ts), so it reads the answer.
 */
function drainable(request: FastifyRequest, err: ServiceError): boolean {
  if (!KEEP_ALIVE_REFUSALS.has(err.code) || request.raw.readableDidRead) return false;
  const length = Number(request.headers['content-length']);
  return Number.isInteger(length) && length >= 0 && length <= DRAIN_LIMIT_BYTES;
}

/** Seconds until a 503 is worth retrying: from the backlog of the model that refused (classifier.ts), else 1. */
function retryAfterOf(err: ServiceError): number {
  const seconds = (err as ServiceError & { retryAfterSeconds?: number }).retryAfterSeconds;
  return seconds === undefined ? 1 : Math.max(1, Math.ceil(seconds));
}

function render(request: FastifyRequest, reply: FastifyReply, err: ServiceError): FastifyReply {
  request.errorCode = err.code;
  // Only registry messages are sent; an INTERNAL error's cause stays in the log.
  const message = err.code === 'INTERNAL' ? 'Internal server error' : err.message;
  if (err.statusCode === 503) reply.header('retry-after', String(retryAfterOf(err)));
  // V2 error bodies have no code field; the header carries it there too (and everywhere, for logs and proxies).
  reply.header('x-error-code', err.code);
  if (!request.raw.complete && !drainable(request, err)) {
    reply.header('connection', 'close');
    lingerBeforeClose(request.raw);
  }
  reply.code(err.statusCode).type('application/json; charset=utf-8');
  return reply.send(isV2Request(request) ? { error: message } : { error: { code: err.code, message } });
}

/**
 * Fastify's `frameworkErrors`: a URL that does not decode or a path segment over maxParamLength is
 * answered before routing, where no hook runs, so the request id and security headers are set here.
 */
export function frameworkErrorHandler(
  context: ErrorContext,
): (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (err, request, reply) => {
    reply.header('x-request-id', request.id);
    applySecurityHeaders(reply);
    render(request, reply, toServiceError(err, context));
  };
}

/**
 * Ajv coerces the query strings "Infinity" and "1e400" to Infinity, then skips minimum/maximum for
 * non-finite numbers (ajv-validator/ajv#2212, fastify/fastify#6718): `?topk=Infinity` reached the
 * handler and ended in a 500. Refused here, after validation, for every route.
 */
export async function rejectNonFiniteQuery(request: FastifyRequest): Promise<void> {
  const query = request.query;
  if (typeof query !== 'object' || query === null) return;
  for (const [name, value] of Object.entries(query)) {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw make(errors.INVALID_PARAMETER)(`querystring/${name.slice(0, 64)} must be a finite number`);
    }
  }
}

export const errorHandlerPlugin = fp(
  async (app) => {
    app.decorateRequest('errorCode', null);
    app.addHook('preHandler', rejectNonFiniteQuery);

    app.setErrorHandler((err, request, reply) => {
      // The registry's own errors (every refusal) need no mapping context.
      const serviceErr = isServiceError(err)
        ? err
        : toServiceError(err, { ...app.config, contentType: request.headers['content-type'] });
      if (serviceErr.code === 'INTERNAL') request.log.error({ err }, 'unexpected error');
      // Load shedding (QUEUE_FULL, NOT_READY, SHUTTING_DOWN, DEADLINE_EXCEEDED) is expected and
      // already on the request's own log line; a second line per refusal only adds to the overload.
      // So is MODEL_UNAVAILABLE, whose reason was logged once when the model failed.
      else if (serviceErr.statusCode >= 500 && !SHEDDING.has(serviceErr.code))
        request.log.warn({ code: serviceErr.code }, 'request failed');
      return render(request, reply, serviceErr);
    });

    const routes = new RouteMethods();
    app.addHook('onRoute', (route) => routes.add(route.url, route.method));
    app.setNotFoundHandler((request, reply) => {
      const path = (request.url.split('?')[0] ?? '').slice(0, 200);
      const allowed = routes.allowed(path);
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        reply.header('allow', allowed.join(', '));
        const use = allowed.filter((method) => method !== 'HEAD').join(' or ');
        return render(request, reply, make(errors.METHOD_NOT_ALLOWED)(request.method, path, use));
      }
      return render(request, reply, make(errors.NOT_FOUND)(`${request.method} ${path}`));
    });
  },
  { name: 'error-handler' },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** Registry code of the error this request ended with, for the request log line. */
    errorCode: string | null;
  }
}
