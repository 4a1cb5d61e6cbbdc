// Request ids and the one log line per request. Fastify's per-request lines are replaced by a
// LogController that logs once, when the response is done: method, route, status, time, images
// and the error code if any. Bodies and image bytes are never logged.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

const SAFE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Reuses a caller's X-Request-Id when it is short and plain (so logs can be joined), else a UUID. */
export function requestIdFor(raw: IncomingMessage): string {
  const incoming = raw.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      images: request.imageCount || undefined,
      code: request.errorCode ?? undefined,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed while responding');
    else request.log.info(line, 'request done');
  }
}

export const requestLogPlugin = fp(
  async (app) => {
    app.decorateRequest('imageCount', 0);
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  },
  { name: 'request-log', dependencies: ['error-handler'] },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** Images this request carried, for the request log line. */
    imageCount: number;
  }
}
