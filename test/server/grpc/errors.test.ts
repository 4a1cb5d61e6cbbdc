// The status of each error a gRPC call can end with, the registry code in its details and in the
// `x-error-code` trailer, and retry-after where REST sends Retry-After: bad requests, unknown
// models, a full queue, draining, a deadline under a full queue, a cancelled call (its image is
// never computed), and the message size limit.
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lifecycle } from '../../../src/server/app.ts';
import { fixture } from '../helpers.ts';
import { bytesElements, float32Le, tensor } from '../v2-client.ts';
import { call, errorCode, startGrpcApp, type GrpcHarness, type Outcome } from './grpc-client.ts';

const SHAPE = [1, 3, 224, 224];
const goodTensor = () => ({
  model_name: 'resnet50',
  inputs: [{ name: 'input', datatype: 'FP32', shape: SHAPE }],
  raw_input_contents: [Buffer.from(float32Le(tensor(1, 5)))],
});

function expectStatus(outcome: Outcome<unknown>, code: status, registryCode: string): void {
  expect(outcome.ok ? 'OK' : `${outcome.code} ${outcome.details}`).toMatch(new RegExp(`^${code} ${registryCode}: `));
  expect(errorCode(outcome)).toBe(registryCode);
}

async function metric(h: GrpcHarness, series: string): Promise<number> {
  const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(
  'gRPC errors of bad requests: INVALID_ARGUMENT and NOT_FOUND with the registry code',
  { timeout: 60_000 },
  () => {
    let h: GrpcHarness;
    beforeAll(async () => {
      h = await startGrpcApp({ MAX_IMAGES_PER_REQUEST: '4' });
    });
    afterAll(async () => {
      await h?.close();
    });

    const input = (fields: object) => ({
      model_name: 'resnet50',
      inputs: [{ name: 'input', datatype: 'FP32', ...fields }],
    });
    const raw = (count: number) => [Buffer.alloc(count * 4)];
    it.each([
      ['no input', { model_name: 'resnet50' }, 'INVALID_TENSOR'],
      ['two inputs', { ...goodTensor(), inputs: [goodTensor().inputs[0], goodTensor().inputs[0]] }, 'INVALID_TENSOR'],
      [
        'an unknown FP32 input name',
        { ...goodTensor(), inputs: [{ name: 'x', datatype: 'FP32', shape: SHAPE }] },
        'INVALID_TENSOR',
      ],
      [
        'a wrong shape',
        { ...input({ shape: [1, 3, 224, 223] }), raw_input_contents: raw(3 * 224 * 223) },
        'INVALID_TENSOR',
      ],
      [
        'a wrong rank',
        { ...input({ shape: [3, 224, 224] }), raw_input_contents: raw(3 * 224 * 224) },
        'INVALID_TENSOR',
      ],
      ['a negative dim', { ...input({ shape: [-1, 3, 224, 224] }), raw_input_contents: raw(0) }, 'INVALID_TENSOR'],
      ['zero rows', { ...input({ shape: [0, 3, 224, 224] }), raw_input_contents: raw(0) }, 'NO_IMAGES'],
      ['more rows than MAX_IMAGES_PER_REQUEST', input({ shape: [5, 3, 224, 224] }), 'TOO_MANY_IMAGES'],
      [
        'raw contents a byte short',
        { ...input({ shape: SHAPE }), raw_input_contents: [Buffer.alloc(3 * 224 * 224 * 4 - 1)] },
        'INVALID_TENSOR',
      ],
      ['no data at all', input({ shape: SHAPE }), 'INVALID_TENSOR'],
      ['too few fp32_contents', input({ shape: SHAPE, contents: { fp32_contents: [1, 2, 3] } }), 'INVALID_TENSOR'],
      [
        'a NaN in raw contents',
        {
          ...input({ shape: SHAPE }),
          raw_input_contents: [Buffer.from(new Float32Array(3 * 224 * 224).fill(NaN).buffer)],
        },
        'INVALID_TENSOR',
      ],
      [
        'contents and raw contents together',
        { ...goodTensor(), inputs: [{ ...goodTensor().inputs[0], contents: { fp32_contents: [1] } }] },
        'INVALID_TENSOR',
      ],
      ['int_contents for an FP32 input', input({ shape: SHAPE, contents: { int_contents: [1] } }), 'INVALID_TENSOR'],
      [
        'an INT64 datatype',
        { ...input({ shape: SHAPE, datatype: 'INT64' }), raw_input_contents: raw(3 * 224 * 224 * 2) },
        'INVALID_TENSOR',
      ],
      [
        'a BYTES tensor of rank 3',
        { model_name: 'resnet50', inputs: [{ name: 'i', datatype: 'BYTES', shape: [1, 1, 1] }] },
        'INVALID_TENSOR',
      ],
      [
        'BYTES elements that are not images',
        {
          model_name: 'resnet50',
          inputs: [{ name: 'i', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [Buffer.from(bytesElements([Buffer.from('not an image')]))],
        },
        'UNSUPPORTED_IMAGE_FORMAT',
      ],
      [
        'a truncated image',
        {
          model_name: 'resnet50',
          inputs: [{ name: 'i', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [Buffer.from(bytesElements([fixture('landscape-500x375.jpg').subarray(0, 2000)]))],
        },
        'IMAGE_UNDECODABLE',
      ],
      [
        'BYTES raw contents that end inside a length',
        {
          model_name: 'resnet50',
          inputs: [{ name: 'i', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [Buffer.from([1, 0])],
        },
        'INVALID_TENSOR',
      ],
      ['an unknown output', { ...goodTensor(), outputs: [{ name: 'features' }] }, 'INVALID_TENSOR'],
      [
        'classification 0',
        { ...goodTensor(), outputs: [{ name: 'logits', parameters: { classification: { int64_param: 0 } } }] },
        'INVALID_PARAMETER',
      ],
      [
        'classification above the class count',
        { ...goodTensor(), outputs: [{ name: 'logits', parameters: { classification: { int64_param: 11 } } }] },
        'INVALID_PARAMETER',
      ],
      [
        'classification as a string',
        { ...goodTensor(), outputs: [{ name: 'logits', parameters: { classification: { string_param: '3' } } }] },
        'INVALID_PARAMETER',
      ],
    ])('%s: INVALID_ARGUMENT', async (_name, request, code) => {
      expectStatus(await call(h.client, 'ModelInfer', request), status.INVALID_ARGUMENT, code);
    });

    it.each([
      ['an unknown model', { ...goodTensor(), model_name: 'resnet51', model_version: '' }],
      ['an unknown version', { ...goodTensor(), model_version: '2' }],
      ['a version that is not a number', { ...goodTensor(), model_version: 'latest' }],
    ])('%s: NOT_FOUND MODEL_NOT_FOUND, for ModelInfer and ModelMetadata', async (_name, request) => {
      expectStatus(await call(h.client, 'ModelInfer', request), status.NOT_FOUND, 'MODEL_NOT_FOUND');
      const metadata = { name: request.model_name, version: request.model_version };
      expectStatus(await call(h.client, 'ModelMetadata', metadata), status.NOT_FOUND, 'MODEL_NOT_FOUND');
    });

    it('an RPC the server does not implement is UNIMPLEMENTED (a client of the Triton superset finds out)', async () => {
      const outcome = await new Promise<{ code: number }>((resolve) =>
        h.client.makeUnaryRequest(
          '/inference.GRPCInferenceService/ModelStatistics',
          (value: Buffer) => value,
          (value: Buffer) => value,
          Buffer.alloc(0),
          new Metadata(),
          {},
          (err) => resolve({ code: err?.code ?? status.OK }),
        ),
      );
      expect(outcome.code).toBe(status.UNIMPLEMENTED);
    });

    it('still answers a good request with the model after all of them', async () => {
      const outcome = await call(h.client, 'ModelInfer', goodTensor());
      expect(outcome).toMatchObject({ ok: true, response: { model_name: 'resnet50' } });
    });
  },
);

describe('gRPC refusals under load: QUEUE_FULL, DEADLINE_EXCEEDED, cancellation, draining', { timeout: 60_000 }, () => {
  const model = 'model="resnet50",version="1"';
  const lifecycle: Lifecycle = { shuttingDown: false };
  let h: GrpcHarness;
  beforeAll(async () => {
    // Batches wait 1.5 s for company: an image queued alone stays queued that long.
    h = await startGrpcApp({ MAX_BATCH_SIZE: '4', MAX_BATCH_DELAY_MS: '1500', MAX_QUEUE: '1' }, { lifecycle });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers RESOURCE_EXHAUSTED QUEUE_FULL with retry-after and grpc-retry-pushback-ms while the queue is full', async () => {
    const first = call(h.client, 'ModelInfer', goodTensor());
    await until(async () => (await metric(h, `resnet_queue_depth{${model}}`)) === 1, 5000);
    const refused = await call(h.client, 'ModelInfer', goodTensor());
    expectStatus(refused, status.RESOURCE_EXHAUSTED, 'QUEUE_FULL');
    if (refused.ok) return;
    const seconds = Number(refused.metadata.get('retry-after')[0]);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(Number(refused.metadata.get('grpc-retry-pushback-ms')[0])).toBe(seconds * 1000);
    expect(await first).toMatchObject({ ok: true });
  });

  it('ends a call whose deadline passes in the queue with DEADLINE_EXCEEDED; its image is never computed', async () => {
    const batches = await metric(h, `resnet_batch_size_count{${model}}`);
    const started = Date.now();
    const outcome = await call(h.client, 'ModelInfer', goodTensor(), { deadlineMs: 200 });
    expect(outcome).toMatchObject({ ok: false, code: status.DEADLINE_EXCEEDED });
    expect(Date.now() - started).toBeLessThan(1500);
    await until(async () => (await metric(h, `resnet_queue_depth{${model}}`)) === 0, 5000);
    // past the batch delay: nothing was dispatched for it
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await metric(h, `resnet_batch_size_count{${model}}`)).toBe(batches);
  });

  it('takes a cancelled call out of the queue: counted as cancelled, never computed', async () => {
    const batches = await metric(h, `resnet_batch_size_count{${model}}`);
    const cancelled = await metric(h, `resnet_rejections_total{${model},reason="cancelled"}`);
    let pending: { cancel(): void } | undefined;
    const outcome = call(h.client, 'ModelInfer', goodTensor(), { onCall: (c) => (pending = c) });
    await until(async () => (await metric(h, `resnet_queue_depth{${model}}`)) === 1, 5000);
    pending?.cancel();
    expect(await outcome).toMatchObject({ ok: false, code: status.CANCELLED });
    await until(
      async () => (await metric(h, `resnet_rejections_total{${model},reason="cancelled"}`)) === cancelled + 1,
      5000,
    );
    expect(await metric(h, `resnet_queue_depth{${model}}`)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await metric(h, `resnet_batch_size_count{${model}}`)).toBe(batches);
  });

  it('answers UNAVAILABLE SHUTTING_DOWN with retry-after while draining, and readiness false', async () => {
    lifecycle.shuttingDown = true;
    try {
      const outcome = await call(h.client, 'ModelInfer', goodTensor());
      expectStatus(outcome, status.UNAVAILABLE, 'SHUTTING_DOWN');
      expect(outcome.ok || outcome.metadata.get('retry-after').length).toBe(1);
      expect(await call(h.client, 'ServerReady', {})).toEqual({ ok: true, response: { ready: false } });
      expect(await call(h.client, 'ModelReady', { name: 'resnet50' })).toEqual({
        ok: true,
        response: { ready: false },
      });
      expect(await call(h.client, 'ServerLive', {})).toEqual({ ok: true, response: { live: true } });
    } finally {
      lifecycle.shuttingDown = false;
    }
  });
});

describe('gRPC calls that find the model full wait in line (FULL_WAIT_MS)', { timeout: 60_000 }, () => {
  const model = 'model="resnet50",version="1"';
  let h: GrpcHarness;
  beforeAll(async () => {
    // As above: a tensor queued alone stays queued 1.5 s and fills the queue (MAX_QUEUE 1).
    h = await startGrpcApp({ MAX_BATCH_SIZE: '4', MAX_BATCH_DELAY_MS: '1500', MAX_QUEUE: '1', FULL_WAIT_MS: '10000' });
  });
  afterAll(async () => {
    await h?.close();
  });
  const waiting = () => h.app.registry.resolve().admission.waiting;

  it('serves a waiting call once the queue has room (tensor rows hold no admission place), long before its wait ends', async () => {
    const first = call(h.client, 'ModelInfer', goodTensor());
    await until(async () => (await metric(h, `resnet_queue_depth{${model}}`)) === 1, 5000);
    const started = Date.now();
    const second = call(h.client, 'ModelInfer', goodTensor());
    await until(async () => waiting() === 1, 5000);
    expect(await first).toMatchObject({ ok: true });
    expect(await second).toMatchObject({ ok: true });
    // Woken when the first batch left the queue (after 1.5 s), then batched 1.5 s itself: not 10 s.
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('takes a cancelled call out of the line', async () => {
    const first = call(h.client, 'ModelInfer', goodTensor());
    await until(async () => (await metric(h, `resnet_queue_depth{${model}}`)) === 1, 5000);
    let pending: { cancel(): void } | undefined;
    const cancelled = call(h.client, 'ModelInfer', goodTensor(), { onCall: (c) => (pending = c) });
    await until(async () => waiting() === 1, 5000);
    pending?.cancel();
    expect(await cancelled).toMatchObject({ ok: false, code: status.CANCELLED });
    await until(async () => waiting() === 0, 1000);
    expect(await first).toMatchObject({ ok: true });
  });
});

describe('gRPC message size limit (GRPC_MAX_MESSAGE_BYTES)', { timeout: 60_000 }, () => {
  const twoRows = () => ({
    model_name: 'resnet50',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224] }],
    raw_input_contents: [Buffer.from(float32Le(tensor(2, 1)))],
  });
  let h: GrpcHarness;
  beforeAll(async () => {
    // One FP32 row is 602112 bytes: the limit admits one row and refuses two.
    h = await startGrpcApp({ GRPC_MAX_MESSAGE_BYTES: String(700 * 1024) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses a larger request with RESOURCE_EXHAUSTED and serves one under it', async () => {
    const outcome = await call(h.client, 'ModelInfer', twoRows());
    expect(outcome).toMatchObject({ ok: false, code: status.RESOURCE_EXHAUSTED });
    expect(outcome.ok || outcome.details).toMatch(/larger than max/);
    expect(await call(h.client, 'ModelInfer', goodTensor())).toMatchObject({ ok: true });
  });

  it('defaults to MAX_BODY_BYTES', async () => {
    const byBody = await startGrpcApp({ MAX_BODY_BYTES: String(700 * 1024), MAX_IMAGE_BYTES: '600000' });
    try {
      expect(await call(byBody.client, 'ModelInfer', twoRows())).toMatchObject({
        ok: false,
        code: status.RESOURCE_EXHAUSTED,
      });
      expect(await call(byBody.client, 'ModelInfer', goodTensor())).toMatchObject({ ok: true });
    } finally {
      await byBody.close();
    }
  });
});
