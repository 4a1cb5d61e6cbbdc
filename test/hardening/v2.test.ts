// Hostile KServe V2 inference requests (app.inject): shape, datatype and data that disagree,
// binary-extension headers that are negative, not numbers or larger than the body, binary
// sections that do not match the JSON, non-finite values, and unknown model names with path
// tricks in them. Every answer is a V2 error ({"error": "..."}) with its code in X-Error-Code.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, expectError, expectStillServing, goodPng, startApp } from './helpers.ts';

const PIXELS = 3 * 224 * 224;
const INFER = '/v2/models/resnet50/infer';

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app?.close();
});

interface Case {
  readonly name: string;
  readonly body: Buffer | string | object;
  readonly headerLength?: string;
  readonly url?: string;
  readonly status: number;
  readonly code: string;
}

async function expectV2Case(c: Case): Promise<void> {
  const payload = Buffer.isBuffer(c.body) || typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (c.headerLength !== undefined) headers['inference-header-content-length'] = c.headerLength;
  expectError(await app.inject({ method: 'POST', url: c.url ?? INFER, payload, headers }), c.status, c.code, 'v2');
}

const fp32 = (shape: unknown, data: unknown, extra: object = {}) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape, data, ...extra }],
});
const bytesInput = (shape: unknown, data: unknown) => ({
  inputs: [{ name: 'images', datatype: 'BYTES', shape, data }],
});
const zeros = (n: number) => new Array<number>(n).fill(0);

/** JSON header + binary section, and the header length to declare. */
function binary(json: object, section: Buffer): { body: Buffer; headerLength: string } {
  const head = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([head, section]), headerLength: String(head.length) };
}
const binaryInput = (size: number, shape: number[] = [1, 3, 224, 224]) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape, parameters: { binary_data_size: size } }],
});
const goodBinary = binary(binaryInput(PIXELS * 4), Buffer.alloc(PIXELS * 4));
const lengthPrefixed = (length: number, payload: Buffer) => {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(length);
  return Buffer.concat([prefix, payload]);
};

describe('shape, datatype and data that disagree', { timeout: 10_000 }, () => {
  const cases: Case[] = [
    {
      name: '3 values for a [1,3,224,224] tensor',
      body: fp32([1, 3, 224, 224], [1, 2, 3]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'one image of data for shape [2,3,224,224]',
      body: fp32([2, 3, 224, 224], zeros(PIXELS)),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'one value too many',
      body: fp32([1, 3, 224, 224], zeros(PIXELS + 1)),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'nested data that does not follow the shape',
      body: fp32([1, 3, 224, 224], [[[[0]]]]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'strings in FP32 data',
      body: fp32([1, 3, 224, 224], new Array<string>(PIXELS).fill('0')),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'null in FP32 data',
      body: fp32([1, 3, 224, 224], [null, ...zeros(PIXELS - 1)]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'a value past float32 (1e39)',
      body: fp32([1, 3, 224, 224], [1e39, ...zeros(PIXELS - 1)]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    { name: 'data that is an object', body: fp32([1, 3, 224, 224], { 0: 1 }), status: 400, code: 'INVALID_TENSOR' },
    {
      name: 'datatype INT64',
      body: { inputs: [{ name: 'input', datatype: 'INT64', shape: [1, 3, 224, 224], data: [1] }] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'datatype FP16',
      body: { inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: [1] }] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'no datatype',
      body: { inputs: [{ name: 'input', shape: [1, 3, 224, 224], data: [1] }] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'an unknown FP32 input name',
      body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 224, 224], data: [] }] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    { name: 'shape [1,3,224]', body: fp32([1, 3, 224], []), status: 400, code: 'INVALID_TENSOR' },
    { name: 'shape [1,3,224,224,1]', body: fp32([1, 3, 224, 224, 1], []), status: 400, code: 'INVALID_TENSOR' },
    {
      name: 'shape [1,3,32,32] (wrong image size)',
      body: fp32([1, 3, 32, 32], zeros(3 * 32 * 32)),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    { name: 'a negative dimension', body: fp32([-1, 3, 224, 224], []), status: 400, code: 'INVALID_TENSOR' },
    { name: 'a fractional dimension', body: fp32([1.5, 3, 224, 224], []), status: 400, code: 'INVALID_TENSOR' },
    { name: 'a string shape', body: fp32('1,3,224,224', []), status: 400, code: 'INVALID_TENSOR' },
    { name: 'an empty shape', body: fp32([], []), status: 400, code: 'INVALID_TENSOR' },
    {
      name: '10^15 rows (refused before allocating)',
      body: fp32([1e15, 3, 224, 224], []),
      status: 413,
      code: 'TOO_MANY_IMAGES',
    },
    { name: 'zero rows', body: fp32([0, 3, 224, 224], []), status: 400, code: 'NO_IMAGES' },
    { name: 'no inputs', body: { inputs: [] }, status: 400, code: 'INVALID_TENSOR' },
    {
      name: 'two inputs',
      body: { inputs: [fp32([1, 3, 224, 224], []).inputs[0], fp32([1, 3, 224, 224], []).inputs[0]] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    { name: 'an empty object', body: {}, status: 400, code: 'INVALID_TENSOR' },
    { name: 'a JSON array', body: '[]', status: 400, code: 'INVALID_JSON' },
    { name: 'JSON cut short', body: '{"inputs": [', status: 400, code: 'INVALID_JSON' },
    { name: 'an empty body', body: '', status: 400, code: 'INVALID_JSON' },
    {
      name: 'an unknown output',
      body: { ...bytesInput([1], [goodPng.toString('base64')]), outputs: [{ name: 'features' }] },
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'outputs that are not an array',
      body: { ...bytesInput([1], [goodPng.toString('base64')]), outputs: 'logits' },
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    ...[0, 11, 1.5, '3'].map((k): Case => ({
      name: `classification ${JSON.stringify(k)}`,
      body: {
        ...bytesInput([1], [goodPng.toString('base64')]),
        outputs: [{ name: 'probabilities', parameters: { classification: k } }],
      },
      status: 400,
      code: 'INVALID_PARAMETER',
    })),
    {
      name: 'BYTES shape [2] with one element',
      body: bytesInput([2], [goodPng.toString('base64')]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'BYTES shape [1,2]',
      body: bytesInput([1, 2], [goodPng.toString('base64'), goodPng.toString('base64')]),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    { name: 'BYTES shape [10^9]', body: bytesInput([1e9], []), status: 413, code: 'TOO_MANY_IMAGES' },
    { name: 'a number as a BYTES element', body: bytesInput([1], [1]), status: 400, code: 'INVALID_TENSOR' },
    {
      name: 'invalid base64 in a BYTES element',
      body: bytesInput([1], [`${'A'.repeat(64)}!`]),
      status: 400,
      code: 'INVALID_BASE64',
    },
    {
      name: 'an SVG as a BYTES element',
      body: bytesInput([1], ['PHN2Zy8+']),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    {
      name: 'a body over MAX_BODY_BYTES',
      body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20),
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
  ];
  it.each(cases)('$name: $status $code', expectV2Case);

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('binary tensor extension', { timeout: 10_000 }, () => {
  const nan = new Float32Array(PIXELS);
  nan[7] = Number.NaN;
  const cases: Case[] = [
    ...['-1', 'abc', String(goodBinary.body.length + 1), '1.5', '', ' 10', '1e3', '0x10', '99999999999999999999'].map(
      (h): Case => ({
        name: `Inference-Header-Content-Length ${JSON.stringify(h)}`,
        body: goodBinary.body,
        headerLength: h,
        status: 400,
        code: 'MALFORMED_BODY',
      }),
    ),
    {
      name: 'a header length of 0 (no JSON)',
      body: goodBinary.body,
      headerLength: '0',
      status: 400,
      code: 'INVALID_JSON',
    },
    {
      name: 'a header length that cuts the JSON',
      body: goodBinary.body,
      headerLength: String(Number(goodBinary.headerLength) - 1),
      status: 400,
      code: 'INVALID_JSON',
    },
    {
      name: 'binary data 4 bytes short',
      body: goodBinary.body.subarray(0, -4),
      headerLength: goodBinary.headerLength,
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'bytes after the last tensor',
      ...binary(binaryInput(PIXELS * 4), Buffer.alloc(PIXELS * 4 + 4)),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'a negative binary_data_size',
      ...binary(binaryInput(-4), Buffer.alloc(PIXELS * 4)),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'a fractional binary_data_size',
      ...binary(binaryInput(2.5), Buffer.alloc(8)),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'a binary_data_size that disagrees with the shape',
      ...binary(binaryInput(8), Buffer.alloc(8)),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'a NaN in the binary tensor',
      ...binary(binaryInput(PIXELS * 4), Buffer.from(nan.buffer)),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'a BYTES element whose length prefix is 2^32-1',
      ...binary(
        { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 8 } }] },
        lengthPrefixed(0xffffffff, Buffer.alloc(4)),
      ),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'two BYTES elements for shape [1]',
      ...binary(
        { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 16 } }] },
        Buffer.concat([lengthPrefixed(4, Buffer.alloc(4)), lengthPrefixed(4, Buffer.alloc(4))]),
      ),
      status: 400,
      code: 'INVALID_TENSOR',
    },
    {
      name: 'a BYTES length prefix cut short',
      ...binary(
        { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 2 } }] },
        Buffer.alloc(2),
      ),
      status: 400,
      code: 'INVALID_TENSOR',
    },
  ];
  it.each(cases)('$name: $status $code', expectV2Case);

  it('answers the well-formed binary request 200 (the cases above differ from it in one field each)', async () => {
    const response = await app.inject({
      method: 'POST',
      url: INFER,
      payload: goodBinary.body,
      headers: { 'inference-header-content-length': goodBinary.headerLength },
    });
    expect(response.statusCode).toBe(200);
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('model names', { timeout: 10_000 }, () => {
  // inject resolves "%2e%2e" segments like a browser would; transport.test.ts sends them raw.
  const names = [
    'other',
    'RESNET50',
    'resnet50%20',
    '..%2F..%2Fetc%2Fpasswd',
    '..%5C..%5Cwindows',
    'resnet50%00',
    '%00',
    'resnet50%2F..',
    'models%2Fresnet50.onnx',
  ];
  const cases: Case[] = [
    ...names.map((m): Case => ({
      name: `inference on "${m}"`,
      url: `/v2/models/${m}/infer`,
      body: '{}',
      status: 404,
      code: 'MODEL_NOT_FOUND',
    })),
    {
      name: 'version 2',
      url: '/v2/models/resnet50/versions/2/infer',
      body: '{}',
      status: 404,
      code: 'MODEL_NOT_FOUND',
    },
    {
      name: 'version "..%2F1"',
      url: '/v2/models/resnet50/versions/..%2F1/infer',
      body: '{}',
      status: 404,
      code: 'MODEL_NOT_FOUND',
    },
    {
      name: 'a 150-character name',
      url: `/v2/models/${'a'.repeat(150)}/infer`,
      body: '{}',
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    {
      name: 'a name that is not valid percent-encoding',
      url: '/v2/models/%E0%A4%A/infer',
      body: '{}',
      status: 400,
      code: 'INVALID_PARAMETER',
    },
  ];
  it.each(cases)('$name: $status $code', expectV2Case);

  it.each(names)('answers metadata and readiness of "%s" with 404 MODEL_NOT_FOUND', async (m) => {
    for (const url of [`/v2/models/${m}`, `/v2/models/${m}/ready`, `/v2/models/${m}/versions/1/ready`]) {
      expectError(await app.inject({ method: 'GET', url }), 404, 'MODEL_NOT_FOUND', 'v2');
    }
  });

  it('sends security headers and a request id on the errors answered before routing', async () => {
    const response = await app.inject({ method: 'GET', url: '/v2/models/%zz/ready' });
    expectError(response, 400, 'INVALID_PARAMETER', 'v2');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});
