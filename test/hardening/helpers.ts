// Shared by the hostile-input suite: the app on the tiny model with small limits (so oversize
// cases stay small), a raw-socket client for cases where the transport matters, and the check
// run after every group: a good request still answers 200 with the model's own result.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { expect, inject } from 'vitest';
import { topK, type Prediction } from '../../src/model/runtime/postprocess.ts';
import { preprocessImage } from '../../src/preprocess/index.ts';
import { buildApp, type AppDeps } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';

/** Small limits: 1 MB per image, 2 MB per body, 4 images, a 1.5 s body timeout. */
export const HARDENING_ENV = {
  // The tiny model's manifest names it resnet50-w0.125-c10; the tests' URLs use the override.
  MODEL_NAME: 'resnet50',
  INTRA_OP_THREADS: '1',
  MAX_BATCH_SIZE: '4',
  MAX_BATCH_DELAY_MS: '1',
  MAX_IMAGE_BYTES: '1000000',
  MAX_BODY_BYTES: '2000000',
  MAX_IMAGES_PER_REQUEST: '4',
  BODY_TIMEOUT_MS: '1500',
  LOG_LEVEL: 'silent',
} as const;

export const MAX_IMAGE_BYTES = Number(HARDENING_ENV.MAX_IMAGE_BYTES);
export const MAX_BODY_BYTES = Number(HARDENING_ENV.MAX_BODY_BYTES);

export function fixture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));
}

export const goodPng = fixture('tiny-120x90.png');
export const goodJpeg = fixture('landscape-500x375.jpg');

/** The app on the tiny model, its engine warm; listening on 127.0.0.1 and a free port when asked. */
export async function startApp(
  env: Record<string, string> = {},
  options: { listen?: boolean } & AppDeps = {},
): Promise<FastifyInstance> {
  const { listen, ...deps } = options;
  const app = await buildApp(loadConfig({ MODEL_PATH: inject('tinyModelPath'), ...HARDENING_ENV, ...env }), deps);
  if (listen) await app.listen({ port: 0, host: '127.0.0.1' });
  await app.registry.whenStarted();
  return app;
}

export function portOf(app: FastifyInstance): number {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the app is not listening');
  return address.port;
}

interface Replied {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/** A registry error: status, stable code, and the body shape of its API (V2: {"error": "..."}). */
export function expectError(response: Replied, status: number, code: string, api: 'predict' | 'v2' = 'predict'): void {
  expect(response.statusCode, response.body.slice(0, 300)).toBe(status);
  expect(response.headers['x-error-code']).toBe(code);
  const body = JSON.parse(response.body) as unknown;
  if (api === 'v2') expect(body).toEqual({ error: expect.any(String) });
  else expect(body).toEqual({ error: { code, message: expect.any(String) } });
  if (status === 503) expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

/** What the model says about these bytes when asked without HTTP. */
export async function expectedPredictions(app: FastifyInstance, bytes: Uint8Array, k: number): Promise<Prediction[]> {
  const { config } = app;
  const classifier = app.registry.resolve();
  const { manifest } = classifier;
  const tensor = await preprocessImage(bytes, {
    preset: manifest.preprocess,
    maxImageBytes: config.maxImageBytes,
    maxImagePixels: config.maxImagePixels,
  });
  const engine = classifier.engine;
  if (engine === null) throw new Error('engine not started');
  return topK((await engine.infer(tensor)).probabilities, k, manifest.labels);
}

export function expectSamePredictions(actual: readonly Prediction[], expected: readonly Prediction[]): void {
  expect(actual.map((p) => p.index)).toEqual(expected.map((p) => p.index));
  actual.forEach((p, i) => expect(p.score).toBeCloseTo(expected[i]?.score ?? Number.NaN, 6));
}

/** The server is up and correct: a good PNG gets 200 and the model's own top 3. */
export async function expectStillServing(app: FastifyInstance): Promise<void> {
  const response = await app.inject({
    method: 'POST',
    url: '/predict?topk=3',
    payload: goodPng,
    headers: { 'content-type': 'image/png' },
  });
  expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  const { results } = response.json<{ results: { predictions: Prediction[] }[] }>();
  expect(results).toHaveLength(1);
  expectSamePredictions(results[0]?.predictions ?? [], await expectedPredictions(app, goodPng, 3));
}

export interface RawResponse {
  /** Status code of the first response, 0 when none arrived. */
  readonly status: number;
  readonly head: string;
  readonly body: string;
  /** How long until the server answered (or closed). */
  readonly ms: number;
  /** The server closed the connection (rather than our client-side timeout). */
  readonly closedByServer: boolean;
}

/**
 * Writes `chunks` to a fresh connection, `gapMs` apart, and resolves with what came back once the
 * server has answered and closed, or `waitMs` after the start (then closedByServer is false).
 */
export function rawExchange(
  port: number,
  chunks: readonly (string | Buffer)[],
  options: { gapMs?: number; waitMs?: number; end?: boolean } = {},
): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let answeredAt: number | undefined;
    let closedByServer = true;
    socket.on('data', (data: Buffer) => {
      answeredAt ??= performance.now();
      received.push(data);
    });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, options.waitMs ?? 10_000);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: rest.join('\r\n\r\n'),
        ms: (answeredAt ?? performance.now()) - started,
        closedByServer,
      });
    });
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.end) socket.end();
    })();
  });
}

/** The registry code in a raw response's JSON body (either API shape), or the X-Error-Code header. */
export function codeOf(response: RawResponse): string | undefined {
  const header = /^x-error-code: (\S+)$/im.exec(response.head)?.[1];
  if (header !== undefined) return header;
  try {
    const body = JSON.parse(response.body) as { error?: { code?: string } };
    return body.error?.code;
  } catch {
    return undefined;
  }
}

export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** Open connections of a listening app. */
export function connectionsOf(app: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) =>
    app.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
  );
}
