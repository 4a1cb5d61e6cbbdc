// The real entry point with a broken model, and under load when SIGTERM arrives.
// Broken model files (corrupt, truncated or empty .onnx; a sidecar manifest missing, not JSON or
// missing fields) end startup with exit code 1 and a message naming the file. SIGTERM under
// continuous load (test/server/main.test.ts covers three requests held in one batch): every
// request gets 200 or 503 SHUTTING_DOWN or a refused connection, never a 500; work in flight at
// the signal completes; the process exits 0 within SHUTDOWN_TIMEOUT_MS.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { goodPng } from './helpers.ts';
import { spawnServer } from './spawn.ts';

const dir = mkdtempSync(join(tmpdir(), 'resnet-serve-broken-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A model pair in `dir`: `onnx` bytes (or the tiny model's) and `manifest` text (or the tiny model's; null: none). */
function brokenModel(name: string, files: { onnx?: Buffer; manifest?: string | null }): string {
  const modelPath = join(dir, `${name}.onnx`);
  if (files.onnx === undefined) copyFileSync(inject('tinyModelPath'), modelPath);
  else writeFileSync(modelPath, files.onnx);
  if (files.manifest === undefined) copyFileSync(inject('tinyManifestPath'), join(dir, `${name}.json`));
  else if (files.manifest !== null) writeFileSync(join(dir, `${name}.json`), files.manifest);
  return modelPath;
}

describe.concurrent('a broken model at startup: exit code 1 and a message naming the file', { timeout: 90_000 }, () => {
  const tiny = () => readFileSync(inject('tinyModelPath'));
  it.each([
    [
      'random bytes as the .onnx',
      () => brokenModel('random', { onnx: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) % 256)) }),
      'The inference worker could not start',
    ],
    [
      'a .onnx cut in half',
      () => brokenModel('truncated', { onnx: tiny().subarray(0, tiny().length >> 1) }),
      'The inference worker could not start',
    ],
    ['an empty .onnx', () => brokenModel('empty', { onnx: Buffer.alloc(0) }), 'The inference worker could not start'],
    ['no manifest next to the .onnx', () => brokenModel('no-manifest', { manifest: null }), 'Cannot read the manifest'],
    ['a manifest that is not JSON', () => brokenModel('bad-json', { manifest: '{"format": ' }), 'is not valid JSON'],
    [
      'a manifest without its fields',
      () => brokenModel('no-fields', { manifest: '{"format": "resnet-serve/manifest@1"}' }),
      'lacks inputs, outputs, labels, weights, preprocess',
    ],
  ])('%s', async (_name, make, message) => {
    const modelPath = make();
    const server = spawnServer({ MODEL_PATH: modelPath });
    const { code } = await server.exited;
    expect(code).toBe(1);
    expect(server.output()).toContain(message);
    expect(server.output()).toContain(modelPath);
  });
});

describe('the entry point on a model repository', { timeout: 90_000 }, () => {
  it('refuses a MODEL_REPOSITORY that is not a folder with exit code 1 and a message naming it', async () => {
    const server = spawnServer({ MODEL_REPOSITORY: join(dir, 'no-such-repository') });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain(`MODEL_REPOSITORY ${join(dir, 'no-such-repository')} is not a folder`);
  });

  it('keeps serving the models that load when one cannot, and logs why that one is unavailable', async () => {
    const root = join(dir, 'repository');
    for (const [name, onnx] of [
      ['good', readFileSync(inject('tinyModelPath'))],
      ['corrupt', Buffer.from('not an onnx file')],
    ] as const) {
      mkdirSync(join(root, name, '1'), { recursive: true });
      writeFileSync(join(root, name, '1', 'model.onnx'), onnx);
      copyFileSync(inject('tinyManifestPath'), join(root, name, '1', 'model.json'));
    }
    const server = spawnServer({ MODEL_REPOSITORY: root, LOG_LEVEL: 'info' });
    try {
      const port = await server.port();
      const ready = await server.waitForLog('ready');
      expect(ready['models']).toEqual(['good/1']);
      const unavailable = server.logLines().find((l) => l['msg'] === 'model unavailable');
      expect(unavailable).toMatchObject({ name: 'corrupt', version: '1', state: 'UNAVAILABLE' });
      expect(String(unavailable?.['reason'])).toContain('corrupt/1/model.onnx');
      expect((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status).toBe(200);
      const predict = await fetch(`http://127.0.0.1:${port}/predict`, {
        method: 'POST',
        body: goodPng,
        headers: { 'content-type': 'image/png' },
      });
      expect(await predict.json()).toMatchObject({ model: 'good', version: '1' });
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});

interface Outcome {
  readonly startedAt: number;
  readonly endedAt: number;
  /** HTTP status, or the connection error code. */
  readonly result: number | string;
  readonly code?: string;
  readonly retryAfter?: string;
}

/** One request on a client's own keep-alive connection. */
function predict(port: number, agent: Agent): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/predict', agent, headers: { 'content-type': 'image/png' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const code = res.headers['x-error-code'];
          const retryAfter = res.headers['retry-after'];
          resolve({
            startedAt,
            endedAt: Date.now(),
            result: res.statusCode ?? 0,
            ...(typeof code === 'string' ? { code } : {}),
            ...(retryAfter === undefined ? {} : { retryAfter }),
          });
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ startedAt, endedAt: Date.now(), result: err.code ?? 'error' }),
    );
    req.end(goodPng);
  });
}

/** Sends requests back to back until the server refuses connections. */
async function client(port: number, outcomes: Outcome[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (;;) {
      const outcome = await predict(port, agent);
      outcomes.push(outcome);
      if (outcome.result === 'ECONNREFUSED') return;
    }
  } finally {
    agent.destroy();
  }
}

describe('SIGTERM under continuous load', { timeout: 90_000 }, () => {
  it('completes the work in flight, answers the rest 503 SHUTTING_DOWN or refuses it, never 500, and exits 0 in bounds', async () => {
    const shutdownTimeoutMs = 10_000;
    // Batches wait up to 200 ms for company, so requests are queued whenever the signal comes.
    const server = spawnServer({
      MODEL_PATH: inject('tinyModelPath'),
      MAX_BATCH_SIZE: '16',
      MAX_BATCH_DELAY_MS: '200',
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
      LOG_LEVEL: 'info',
    });
    try {
      const port = await server.port();
      await server.waitForLog('ready');
      const outcomes: Outcome[] = [];
      const clients = Array.from({ length: 8 }, () => client(port, outcomes));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const signalledAt = Date.now();
      server.child.kill('SIGTERM');
      await Promise.all(clients);
      const { code } = await server.exited;
      const exitedAt = Date.now();

      expect(code).toBe(0);
      expect(exitedAt - signalledAt).toBeLessThan(shutdownTimeoutMs);
      const before = outcomes.filter((o) => o.endedAt < signalledAt);
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((o) => o.result === 200)).toBe(true);
      // In flight at the signal and answered during the drain.
      const drained = outcomes.filter((o) => o.startedAt < signalledAt && o.endedAt >= signalledAt && o.result === 200);
      expect(drained.length).toBeGreaterThan(0);
      for (const o of outcomes.filter((x) => x.result === 503))
        expect(o).toMatchObject({ code: 'SHUTTING_DOWN', retryAfter: expect.any(String) });
      const kinds = new Set(outcomes.map((o) => o.result));
      for (const kind of kinds) expect([200, 503, 'ECONNREFUSED', 'ECONNRESET']).toContain(kind);
      expect(server.logLines().some((l) => l['msg'] === 'drained')).toBe(true);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
