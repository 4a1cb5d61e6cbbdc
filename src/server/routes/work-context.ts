// What an HTTP request brings to a classifier: which model it names (?model=&version= on
// /predict, the URL on V2), its queue deadline, an AbortSignal tied to its connection, and its
// arrival time. The onRequest gate refuses work before the body is read.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import type { WorkOptions } from '../classifier/classifier.ts';

export interface ModelTarget {
  readonly name?: string;
  readonly version?: string;
}

/** Where a route's request names its model. */
export type TargetOf = (request: FastifyRequest) => ModelTarget;

/** POST /predict: ?model= and ?version=. */
export const queryTarget: TargetOf = (request) => {
  const { model, version } = (request.query ?? {}) as { model?: unknown; version?: unknown };
  // Checked here too: the gate runs before the schema does.
  if (Array.isArray(model) || Array.isArray(version))
    throw errors.INVALID_PARAMETER('give model and version once each');
  return {
    ...(typeof model === 'string' ? { name: model } : {}),
    ...(typeof version === 'string' ? { version } : {}),
  };
};

/** V2: /models/{model}[/versions/{version}]. */
export const paramsTarget: TargetOf = (request) => {
  const { model, version } = request.params as { model: string; version?: string };
  return version === undefined ? { name: model } : { name: model, version };
};

/** Queue deadline: X-Request-Timeout-Ms header or ?timeout_ms=, capped by MAX_REQUEST_TIMEOUT_MS. */
export function deadlineFor(app: Pick<FastifyInstance, 'config'>, request: FastifyRequest): number {
  const query = request.query as Record<string, unknown> | undefined;
  const raw = request.headers['x-request-timeout-ms'] ?? query?.['timeout_ms'];
  if (raw === undefined) return app.config.requestTimeoutMs;
  const value = Number(raw);
  if (Array.isArray(raw) || !/^\d+$/.test(String(raw)) || value < 1) {
    throw errors.INVALID_PARAMETER('the request timeout must be a whole number of milliseconds >= 1');
  }
  return Math.min(value, app.config.maxRequestTimeoutMs);
}

const goneSignals = new WeakMap<FastifyRequest, AbortSignal>();

/**
 * Aborted (CANCELLED) when the client goes away before its answer is written. One per request:
 * the onRequest gate's wait for room and the queued images use the same signal.
 */
function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  let signal = goneSignals.get(request);
  if (signal === undefined) {
    const controller = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(errors.CANCELLED());
    });
    signal = controller.signal;
    goneSignals.set(request, signal);
  }
  return signal;
}

/** Work options of one request: its deadline, a signal aborted when the client goes away, its arrival time. */
export function workOptions(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  api: 'predict' | 'v2',
  deadlineMs = deadlineFor(app, request),
): WorkOptions {
  return {
    deadlineMs,
    signal: clientGone(request, reply),
    api,
    receivedAt: performance.now() - reply.elapsedTime,
    onImageCount: (count) => (request.imageCount = count),
  };
}

/**
 * onRequest hook of routes that queue inference work: refuses it (model, readiness, room) before
 * the body is read. A request that waits for room stops waiting when its client goes away.
 */
export function acceptingWork(target: TargetOf) {
  return async function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { name, version } = target(request);
    await this.registry.acceptWork(name, version, clientGone(request, reply));
  };
}
