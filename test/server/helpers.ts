// Shared by the server tests: a real app on the tiny model (real engine, real sharp), fixture
// images, hand-built multipart bodies, and the expected prediction for an image computed through
// the parts directly (preprocess -> engine -> topK), never hard-coded.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { expect, inject } from 'vitest';
import { topK, type Prediction } from '../../src/model/runtime/postprocess.ts';
import { preprocessImage } from '../../src/preprocess/index.ts';
import { buildApp, type AppDeps } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';

export const TEST_ENV = {
  // The tiny model's manifest names it resnet50-w0.125-c10; the tests' URLs use the override.
  MODEL_NAME: 'resnet50',
  INTRA_OP_THREADS: '1',
  MAX_BATCH_SIZE: '4',
  MAX_BATCH_DELAY_MS: '1',
  FULL_WAIT_MS: '0',
  LOG_LEVEL: 'silent',
} as const;

export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({ MODEL_PATH: inject('tinyModelPath'), ...TEST_ENV, ...env });
}

/** The app on the tiny model, its engine warm. */
export async function startApp(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(env), deps);
  await app.registry.whenStarted();
  return app;
}

/** A log destination for buildApp that parses each JSON line into `lines`. */
export function jsonLog(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

export function fixture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));
}

export interface Part {
  readonly field: string;
  readonly filename?: string;
  readonly contentType?: string;
  readonly data: Buffer | string;
}

/** A multipart/form-data body built by hand, byte for byte. */
export function multipart(parts: readonly Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----test${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.contentType === undefined ? '' : `\r\nContent-Type: ${part.contentType}`;
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.field}"${filename}${type}\r\n\r\n`),
    );
    chunks.push(Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** What the model (the default one, or `name`) says about these bytes when asked without HTTP. */
export async function expectedPredictions(
  app: FastifyInstance,
  bytes: Uint8Array,
  k: number,
  name?: string,
): Promise<Prediction[]> {
  const { config } = app;
  const classifier = app.registry.resolve(name);
  const { manifest } = classifier;
  const tensor = await preprocessImage(bytes, {
    preset: manifest.preprocess,
    maxImageBytes: config.maxImageBytes,
    maxImagePixels: config.maxImagePixels,
  });
  const { probabilities } = await classifier.engine!.infer(tensor);
  return topK(probabilities, k, manifest.labels);
}

/** Same classes in the same order, scores equal within float tolerance. */
export function expectSamePredictions(actual: readonly Prediction[], expected: readonly Prediction[]): void {
  expect(actual.map((p) => p.index)).toEqual(expected.map((p) => p.index));
  expect(actual.map((p) => p.label)).toEqual(expected.map((p) => p.label));
  actual.forEach((p, i) => expect(p.score).toBeCloseTo(expected[i]!.score, 6));
}

/** Asserts a registry error response: status, stable code, JSON shape. */
export function expectError(response: { statusCode: number; json(): unknown }, status: number, code: string): void {
  expect(response.statusCode, JSON.stringify(response.json())).toBe(status);
  expect(response.json()).toEqual({ error: { code, message: expect.any(String) } });
}

/** One POST /predict of `bytes` on its own connection (no keep-alive pool): the status, or the socket error's code. */
export function predictOnce(port: number, bytes: Buffer, contentType = 'image/png'): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/predict',
        agent: false,
        headers: { 'content-type': contentType },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end(bytes);
  });
}

/** Images waiting in the single model's queue, from a listening server's /metrics. */
export async function queueDepth(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^resnet_queue_depth\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Resolves once `condition()` holds, polling every 25 ms; throws naming `what` after `timeoutMs`. */
export async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
