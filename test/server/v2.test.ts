// The KServe V2 / Open Inference Protocol routes through app.inject on the tiny model: metadata,
// health, inference in JSON and binary (round trips equal to the engine's own outputs for the same
// tensor), BYTES images, classification, and every error with its status and code.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topK } from '../../src/model/runtime/postprocess.ts';
import { expectedPredictions, fixture, startApp } from './helpers.ts';
import {
  IMAGE_LENGTH,
  bytesElements,
  float32Le,
  floatsOf,
  inferRequest,
  parseInferResponse,
  stringsOf,
  tensor,
  type BinaryInput,
} from './v2-client.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ MAX_IMAGES_PER_REQUEST: '4', MAX_BODY_BYTES: String(12 * 1024 * 1024) });
});
afterAll(async () => {
  await app?.close();
});

const INFER = '/v2/models/resnet50/infer';
const fp32Input = (rows: number, extra: Record<string, unknown> = {}) => ({
  name: 'input',
  datatype: 'FP32',
  shape: [rows, 3, 224, 224],
  ...extra,
});

function infer(request: Record<string, unknown>, inputs: readonly BinaryInput[], url = INFER) {
  const { payload, headers } = inferRequest(request, inputs);
  return app.inject({ method: 'POST', url, payload, headers });
}

/** The engine's outputs for each row of a tensor, asked directly. */
async function engineRows(data: Float32Array) {
  const rows = data.length / IMAGE_LENGTH;
  return Promise.all(
    Array.from({ length: rows }, (_, i) =>
      app.registry.resolve().engine!.infer(data.slice(i * IMAGE_LENGTH, (i + 1) * IMAGE_LENGTH)),
    ),
  );
}

function expectCloseArrays(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs), 1e-6);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i]!)));
  expect(worst).toBeLessThanOrEqual(1e-5 * scale);
}

function expectV2Error(
  response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
): void {
  expect(response.statusCode, JSON.stringify(response.json())).toBe(status);
  expect(response.json()).toEqual({ error: expect.any(String) });
  expect(response.headers['x-error-code']).toBe(code);
}

describe('V2 metadata and health', () => {
  it('GET /v2 names the server and its extensions', async () => {
    const response = await app.inject({ method: 'GET', url: '/v2' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      name: 'resnet-serve',
      version: expect.any(String),
      extensions: ['binary_tensor_data', 'classification', 'model_repository'],
    });
  });

  it.each(['/v2/health/live', '/v2/health/ready', '/v2/models/resnet50/ready', '/v2/models/resnet50/versions/1/ready'])(
    'GET %s answers 200 with an empty body when warm',
    async (url) => {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe('');
    },
  );

  it.each(['/v2/models/resnet50', '/v2/models/resnet50/versions/1'])(
    'GET %s gives the model metadata from its manifest',
    async (url) => {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        name: 'resnet50',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        precision: 'fp32',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
        outputs: [
          { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
        ],
      });
    },
  );

  it.each([
    '/v2/models/resnet18',
    '/v2/models/resnet18/ready',
    '/v2/models/resnet50/versions/2',
    '/v2/models/resnet50/versions/2/ready',
  ])('GET %s answers 404 MODEL_NOT_FOUND as a V2 error', async (url) => {
    expectV2Error(await app.inject({ method: 'GET', url }), 404, 'MODEL_NOT_FOUND');
  });

  it('answers URLs that do not decode, or a model name over the path-segment limit, with a V2 400 and the usual headers', async () => {
    for (const url of ['/v2/models/%zz/ready', `/v2/models/${'a'.repeat(150)}`]) {
      const response = await app.inject({ method: 'GET', url });
      expectV2Error(response, 400, 'INVALID_PARAMETER');
      expect(response.headers['x-request-id']).toEqual(expect.any(String));
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers unknown /v2 routes with a V2 404', async () => {
    expectV2Error(await app.inject({ method: 'GET', url: '/v2/repository/nothing' }), 404, 'NOT_FOUND');
    expectV2Error(await app.inject({ method: 'GET', url: '/v2/models/resnet50/infer/more' }), 404, 'NOT_FOUND');
  });

  it('answers another method on a known /v2 path with a V2 405 and the Allow header', async () => {
    for (const [method, url, allow] of [
      ['GET', '/v2/models/resnet50/infer', 'POST'],
      ['GET', '/v2/models/resnet50/versions/1/infer', 'POST'],
      ['POST', '/v2/health/ready', 'GET, HEAD'],
      ['DELETE', '/v2/models/resnet50', 'GET, HEAD'],
      ['GET', '/v2/repository/index', 'POST'],
    ] as const) {
      const response = await app.inject({ method, url });
      expectV2Error(response, 405, 'METHOD_NOT_ALLOWED');
      expect(response.headers['allow'], `${method} ${url}`).toBe(allow);
    }
  });
});

describe('V2 inference round trips', () => {
  it('JSON in, JSON out: logits and probabilities equal the engine for the same tensor', async () => {
    const data = tensor(2, 1);
    const response = await infer({ id: 'req-1' }, [{ json: fp32Input(2, { data: Array.from(data) }) }]);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = parseInferResponse(response);
    expect(body).toMatchObject({ model_name: 'resnet50', model_version: '1', id: 'req-1' });
    expect(body.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['logits', 'FP32', [2, 10]],
      ['probabilities', 'FP32', [2, 10]],
    ]);
    const expected = await engineRows(data);
    expectCloseArrays(floatsOf(body.outputs[0]!), Float32Array.from(expected.flatMap((r) => [...r.logits])));
    expectCloseArrays(floatsOf(body.outputs[1]!), Float32Array.from(expected.flatMap((r) => [...r.probabilities])));
    // JSON numbers are the float32 values exactly
    for (const value of body.outputs[0]!.data as number[]) expect(Math.fround(value)).toBe(value);
  });

  it('accepts nested JSON data with the same result as flat data', async () => {
    const data = tensor(1, 2);
    const nested = [
      [0, 1, 2].map((c) =>
        Array.from({ length: 224 }, (_, y) =>
          Array.from(data.subarray(c * 50176 + y * 224, c * 50176 + y * 224 + 224)),
        ),
      ),
    ];
    const [flat, deep] = await Promise.all([
      infer({ outputs: [{ name: 'logits' }] }, [{ json: fp32Input(1, { data: Array.from(data) }) }]),
      infer({ outputs: [{ name: 'logits' }] }, [{ json: fp32Input(1, { data: nested }) }]),
    ]);
    expect(deep.statusCode).toBe(200);
    expect(parseInferResponse(deep).outputs).toEqual(parseInferResponse(flat).outputs);
  });

  it('binary in, binary out (tritonclient style: no Content-Type, binary_data_output, no outputs list)', async () => {
    const data = tensor(3, 3);
    const { payload, headers } = inferRequest({ parameters: { binary_data_output: true } }, [
      { json: fp32Input(3), bytes: float32Le(data) },
    ]);
    const response = await app.inject({ method: 'POST', url: INFER, payload, headers });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    const body = parseInferResponse(response);
    expect(body.outputs.map((o) => o.parameters?.binary_data_size)).toEqual([3 * 10 * 4, 3 * 10 * 4]);
    const expected = await engineRows(data);
    expectCloseArrays(floatsOf(body.outputs[0]!), Float32Array.from(expected.flatMap((r) => [...r.logits])));
    expectCloseArrays(floatsOf(body.outputs[1]!), Float32Array.from(expected.flatMap((r) => [...r.probabilities])));
  });

  it('lets binary_data on one output override binary_data_output', async () => {
    const data = tensor(1, 4);
    const response = await infer(
      {
        parameters: { binary_data_output: true },
        outputs: [{ name: 'probabilities', parameters: { binary_data: false } }, { name: 'logits' }],
      },
      [{ json: fp32Input(1), bytes: float32Le(data) }],
    );
    const [probabilities, logits] = parseInferResponse(response).outputs;
    expect(probabilities!.data).toHaveLength(10);
    expect(probabilities!.binary).toBeUndefined();
    expect(logits!.binary).toHaveLength(40);
  });

  it('serves the versioned URL the same way', async () => {
    const response = await infer(
      {},
      [{ json: fp32Input(1, { data: Array.from(tensor(1, 5)) }) }],
      '/v2/models/resnet50/versions/1/infer',
    );
    expect(response.statusCode).toBe(200);
  });

  it('returns classification as BYTES "score:index:label", top-k of the engine output, in JSON or binary', async () => {
    const data = tensor(2, 6);
    const expected = await engineRows(data);
    const labels = app.registry.resolve().labels;
    for (const binary of [false, true]) {
      const response = await infer(
        { outputs: [{ name: 'probabilities', parameters: { classification: 3, binary_data: binary } }] },
        [{ json: fp32Input(2), bytes: float32Le(data) }],
      );
      const output = parseInferResponse(response).outputs[0]!;
      expect(output).toMatchObject({ name: 'probabilities', datatype: 'BYTES', shape: [2, 3] });
      const strings = stringsOf(output);
      const want = expected.flatMap((row) => topK(row.probabilities, 3, labels));
      expect(strings.map((s) => s.split(':').slice(1))).toEqual(want.map((p) => [String(p.index), p.label]));
      strings.forEach((s, i) => expect(Number(s.split(':')[0])).toBeCloseTo(want[i]!.score, 5));
    }
  });

  it('classifies a BYTES tensor of encoded images (binary) like POST /predict', async () => {
    const images = [fixture('landscape-500x375.jpg'), fixture('tiny-120x90.png')];
    const response = await infer({ outputs: [{ name: 'probabilities', parameters: { classification: 5 } }] }, [
      { json: { name: 'image', datatype: 'BYTES', shape: [2] }, bytes: bytesElements(images) },
    ]);
    expect(response.statusCode).toBe(200);
    const strings = stringsOf(parseInferResponse(response).outputs[0]!);
    for (const [i, bytes] of images.entries()) {
      const want = await expectedPredictions(app, bytes, 5);
      expect(strings.slice(i * 5, i * 5 + 5).map((s) => Number(s.split(':')[1]))).toEqual(want.map((p) => p.index));
    }
  });

  it('accepts BYTES images as base64 strings in JSON, shape [N,1]', async () => {
    const png = fixture('tiny-120x90.png');
    const response = await infer({ outputs: [{ name: 'probabilities' }] }, [
      { json: { name: 'image', datatype: 'BYTES', shape: [1, 1], data: [[png.toString('base64')]] } },
    ]);
    expect(response.statusCode).toBe(200);
    const probabilities = floatsOf(parseInferResponse(response).outputs[0]!);
    const want = await expectedPredictions(app, png, 10);
    expect(topK(probabilities, 10, app.registry.resolve().labels).map((p) => p.index)).toEqual(
      want.map((p) => p.index),
    );
  });
});

describe('V2 inference errors', () => {
  const data1 = Array.from(tensor(1, 7));
  const raw = (payload: string | Buffer, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: INFER, payload, headers });

  it.each([
    ['invalid JSON', '{"inputs": [', 'INVALID_JSON'],
    ['a JSON array', '[]', 'INVALID_JSON'],
    ['an empty body', '', 'INVALID_JSON'],
  ])('answers 400 for %s', async (_, payload, code) => {
    expectV2Error(await raw(payload, { 'content-type': 'application/json' }), 400, code);
  });

  it('says that Inference-Header-Content-Length is missing when a JSON object is followed by binary data', async () => {
    const { payload } = inferRequest({}, [
      { json: { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }, bytes: float32Le(tensor(1, 1)) },
    ]);
    const jsonLength = payload.indexOf('}]}') + 3;
    const response = await raw(payload);
    expectV2Error(response, 400, 'INVALID_JSON');
    const { error } = response.json<{ error: string }>();
    expect(error).toContain('Inference-Header-Content-Length');
    expect(error).toContain(`here ${jsonLength}`);
    // With the header, the same bytes are a good request.
    expect((await raw(payload, { 'inference-header-content-length': String(jsonLength) })).statusCode).toBe(200);
  });

  it.each([
    ['no inputs', { inputs: [] }],
    ['two inputs', { inputs: [fp32Input(1, { data: data1 }), fp32Input(1, { data: data1 })] }],
    ['an unknown FP32 input name', { inputs: [{ ...fp32Input(1, { data: data1 }), name: 'pixels' }] }],
    ['a 3-D shape', { inputs: [fp32Input(1, { shape: [1, 3, 224], data: data1 })] }],
    ['a wrong image size', { inputs: [fp32Input(1, { shape: [1, 3, 225, 224], data: data1 })] }],
    ['too few values', { inputs: [fp32Input(1, { data: data1.slice(1) })] }],
    ['too many values', { inputs: [fp32Input(1, { data: [...data1, 0] })] }],
    ['a string value', { inputs: [fp32Input(1, { data: ['a', ...data1.slice(1)] })] }],
    ['nested data off the shape', { inputs: [fp32Input(1, { data: [[[1, 2]]] })] }],
    ['datatype INT32', { inputs: [{ ...fp32Input(1, { data: data1 }), datatype: 'INT32' }] }],
    ['an unknown output', { inputs: [fp32Input(1, { data: data1 })], outputs: [{ name: 'features' }] }],
    [
      'a BYTES tensor of shape [1,2]',
      { inputs: [{ name: 'image', datatype: 'BYTES', shape: [1, 2], data: ['a', 'b'] }] },
    ],
    ['a BYTES count off the shape', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [2], data: ['aGk='] }] }],
  ])('answers 400 INVALID_TENSOR for %s', async (_, request) => {
    expectV2Error(await infer(request, []), 400, 'INVALID_TENSOR');
  });

  it.each([0, 11, 2.5, 'all'])('answers 400 INVALID_PARAMETER for classification %j', async (classification) => {
    expectV2Error(
      await infer({ outputs: [{ name: 'probabilities', parameters: { classification } }] }, [
        { json: fp32Input(1, { data: data1 }) },
      ]),
      400,
      'INVALID_PARAMETER',
    );
  });

  it('answers 400 NO_IMAGES for zero rows and 413 TOO_MANY_IMAGES past MAX_IMAGES_PER_REQUEST (4)', async () => {
    expectV2Error(await infer({}, [{ json: fp32Input(0, { data: [] }) }]), 400, 'NO_IMAGES');
    expectV2Error(
      await infer({}, [{ json: fp32Input(5), bytes: new Uint8Array(5 * IMAGE_LENGTH * 4) }]),
      413,
      'TOO_MANY_IMAGES',
    );
  });

  it('answers 400 MALFORMED_BODY when the binary section does not match the header', async () => {
    const good = inferRequest({}, [{ json: fp32Input(1), bytes: float32Le(tensor(1, 8)) }]);
    const jsonLength = Number(good.headers['inference-header-content-length']);
    expectV2Error(await raw(good.payload, { 'inference-header-content-length': 'abc' }), 400, 'MALFORMED_BODY');
    expectV2Error(
      await raw(good.payload, { 'inference-header-content-length': String(good.payload.length + 1) }),
      400,
      'MALFORMED_BODY',
    );
    expectV2Error(await raw(good.payload.subarray(0, good.payload.length - 4), good.headers), 400, 'MALFORMED_BODY');
    expectV2Error(await raw(Buffer.concat([good.payload, Buffer.alloc(4)]), good.headers), 400, 'MALFORMED_BODY');
    expect(jsonLength).toBeGreaterThan(0);
  });

  it('answers 400 INVALID_TENSOR when binary_data_size disagrees with the shape', async () => {
    expectV2Error(
      await infer({}, [{ json: fp32Input(1), bytes: new Uint8Array(IMAGE_LENGTH * 4 - 4) }]),
      400,
      'INVALID_TENSOR',
    );
  });

  it('answers 400 INVALID_TENSOR for a BYTES element running past the data', async () => {
    const broken = Buffer.concat([Buffer.from(Uint32Array.of(1000).buffer), Buffer.alloc(10)]);
    expectV2Error(
      await infer({}, [{ json: { name: 'image', datatype: 'BYTES', shape: [1] }, bytes: broken }]),
      400,
      'INVALID_TENSOR',
    );
  });

  it('reports image errors of BYTES inputs with the registry codes', async () => {
    const jpeg = fixture('landscape-500x375.jpg');
    const bytesInput = (element: Uint8Array) => [
      { json: { name: 'image', datatype: 'BYTES', shape: [1] }, bytes: bytesElements([element]) },
    ];
    expectV2Error(await infer({}, bytesInput(jpeg.subarray(0, 5000))), 400, 'IMAGE_UNDECODABLE');
    expectV2Error(
      await infer({}, bytesInput(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))),
      415,
      'UNSUPPORTED_IMAGE_FORMAT',
    );
    expectV2Error(
      await infer({}, [{ json: { name: 'image', datatype: 'BYTES', shape: [1], data: ['***'] } }]),
      400,
      'INVALID_BASE64',
    );
  });

  it('answers 404 MODEL_NOT_FOUND for inference on an unknown model', async () => {
    expectV2Error(
      await infer({}, [{ json: fp32Input(1, { data: data1 }) }], '/v2/models/other/infer'),
      404,
      'MODEL_NOT_FOUND',
    );
  });

  it('answers 413 BODY_TOO_LARGE past MAX_BODY_BYTES', async () => {
    expectV2Error(
      await raw(Buffer.alloc(13 * 1024 * 1024, 32), { 'content-type': 'application/json' }),
      413,
      'BODY_TOO_LARGE',
    );
  });
});
