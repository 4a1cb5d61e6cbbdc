// The path every image takes inside a request: bytes -> preprocess -> engine -> probabilities.
// Images of one request run concurrently (the engine batches them, possibly with other
// requests' images); results come back in request order. The first failure cancels the rest of
// the request's images, so a request never holds queue places it no longer needs.
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors.ts';
import { preprocessPixels } from '../preprocess/index.ts';
import { refusal, startedEngine } from './plugins/engine.ts';

export interface NamedImage {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ImageResult {
  readonly name: string;
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

export interface WorkContext {
  readonly app: FastifyInstance;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  /** How long an image may wait in the queue. */
  readonly deadlineMs: number;
  /** Aborted when the client goes away or another image of the request failed. */
  readonly controller: AbortController;
  /** Label for the images-classified counter. */
  readonly api: 'predict' | 'v2';
}

/** Per-request work context: its deadline, and an AbortController tied to the client's connection. */
export function workContext(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  api: WorkContext['api'],
): WorkContext {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(errors.CANCELLED());
  });
  return { app, request, reply, deadlineMs: deadlineFor(app, request), controller, api };
}

/** Queue deadline: X-Request-Timeout-Ms header or ?timeout_ms=, capped by MAX_REQUEST_TIMEOUT_MS. */
export function deadlineFor(app: FastifyInstance, request: FastifyRequest): number {
  const query = request.query as Record<string, unknown> | undefined;
  const raw = request.headers['x-request-timeout-ms'] ?? query?.['timeout_ms'];
  if (raw === undefined) return app.config.requestTimeoutMs;
  const value = Number(raw);
  if (Array.isArray(raw) || !/^\d+$/.test(String(raw)) || value < 1) {
    throw errors.INVALID_PARAMETER('the request timeout must be a whole number of milliseconds >= 1');
  }
  return Math.min(value, app.config.maxRequestTimeoutMs);
}

/** Runs one preprocessed tensor through the engine and records its end-to-end time. */
export async function inferTensor(
  ctx: WorkContext,
  tensor: Float32Array,
): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
  const output = await startedEngine(ctx.app).infer(tensor, {
    deadlineMs: ctx.deadlineMs,
    signal: ctx.controller.signal,
  });
  ctx.app.metrics.endToEnd.observe(ctx.reply.elapsedTime / 1000);
  return output;
}

async function classifyOne(ctx: WorkContext, image: NamedImage): Promise<ImageResult> {
  const { config, manifest, metrics, admission } = ctx.app;
  // A request admitted in onRequest may still carry more images than there are places left.
  if (!admission.tryAdmit()) throw refusal(ctx.app, 'QUEUE_FULL');
  try {
    const started = performance.now();
    // The 8-bit crop: the engine's worker normalizes it into its slot of the batch.
    const pixels = await preprocessPixels(image.bytes, {
      preset: manifest.preprocess,
      maxImageBytes: config.maxImageBytes,
      maxImagePixels: config.maxImagePixels,
    });
    metrics.preprocess.observe((performance.now() - started) / 1000);
    ctx.controller.signal.throwIfAborted();
    const output = await startedEngine(ctx.app).inferPixels(pixels, {
      deadlineMs: ctx.deadlineMs,
      signal: ctx.controller.signal,
    });
    ctx.app.metrics.endToEnd.observe(ctx.reply.elapsedTime / 1000);
    return { name: image.name, ...output };
  } finally {
    admission.release();
  }
}

/**
 * Runs `work` on every item as it arrives, concurrently, and returns the results in order.
 * Throws the request's first error (cancelling the rest); TOO_MANY_IMAGES past
 * MAX_IMAGES_PER_REQUEST; NO_IMAGES when there is nothing to do.
 */
export async function runAll<T, R>(
  ctx: WorkContext,
  items: AsyncIterable<T> | Iterable<T>,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const { maxImagesPerRequest } = ctx.app.config;
  const pending: Promise<R>[] = [];
  try {
    for await (const item of items) {
      // An image already failed (or the client left): stop reading and starting work.
      if (ctx.controller.signal.aborted) break;
      if (pending.length === maxImagesPerRequest) throw errors.TOO_MANY_IMAGES(String(maxImagesPerRequest));
      const task = work(item);
      // The first failure cancels the request's other images; their CANCELLED is not reported.
      task.catch((err: unknown) => ctx.controller.abort(err));
      pending.push(task);
    }
  } catch (err) {
    ctx.controller.abort(err);
  }
  ctx.request.imageCount = pending.length;
  const settled = await Promise.allSettled(pending);
  if (ctx.controller.signal.aborted) throw ctx.controller.signal.reason;
  if (settled.length === 0) throw errors.NO_IMAGES();
  ctx.app.metrics.imagesClassified.inc({ api: ctx.api }, settled.length);
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<R>).value);
}

/** Classifies images as they arrive (multipart parts are preprocessed while later parts are still being received). */
export function classifyImages(
  ctx: WorkContext,
  images: AsyncIterable<NamedImage> | Iterable<NamedImage>,
): Promise<ImageResult[]> {
  return runAll(ctx, images, (image) => classifyOne(ctx, image));
}
