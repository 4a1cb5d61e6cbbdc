// Hostile input over gRPC, as the REST suites do it: bytes that are not protobuf (raw HTTP/2 to
// the method path), raw contents whose size disagrees with the shape, huge declared shapes,
// negative and absurd dims, wrong datatypes, more raw entries than inputs, repeated-field bombs,
// BYTES elements that are not images, oversized metadata and more streams than allowed. Every
// case gets a clear status (INVALID_ARGUMENT with a registry code where the request is ours to
// judge; RESOURCE_EXHAUSTED or a refused stream where grpc-js or HTTP/2 judges first), nothing
// is INTERNAL, and after each group a good request still gets the model's own answer.
import { connect } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32Le, bytesElements, tensor } from '../server/v2-client.ts';
import { call, errorCode, inferenceClient, withGrpc, type GrpcHarness } from '../server/grpc/grpc-client.ts';
import { MAX_METADATA_BYTES } from '../../src/server/grpc/grpc-server.ts';
import { fixture, goodPng, startApp } from './helpers.ts';
import { frame, inferMessage, inputTensor, rawCall, repeatedField, type RawReply } from './grpc-wire.ts';

const ROW = 3 * 224 * 224;
const GOOD = tensor(1, 42);
let h: GrpcHarness;
let expectedLogits: Float32Array;

beforeAll(async () => {
  h = await withGrpc(await startApp({ GRPC_MAX_MESSAGE_BYTES: String(4 * 1024 * 1024) }));
  expectedLogits = (await h.app.registry.resolve('resnet50').engine!.infer(GOOD)).logits;
});
afterAll(async () => {
  await h?.close();
});

/** A good request still gets the model's own logits. */
async function stillServes(): Promise<void> {
  const outcome = await call<{ raw_output_contents: Buffer[] }>(h.client, 'ModelInfer', {
    model_name: 'resnet50',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
    raw_input_contents: [Buffer.from(float32Le(GOOD))],
    outputs: [{ name: 'logits' }],
  });
  if (!outcome.ok) throw new Error(`the good request failed: ${outcome.code} ${outcome.details}`);
  const bytes = outcome.response.raw_output_contents[0]!;
  const logits = Float32Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  logits.forEach((value, i) => expect(value).toBeCloseTo(expectedLogits[i]!, 5));
}

function expectRefused(reply: RawReply, code: string): void {
  expect(reply.http, reply.grpcMessage).toBe(200);
  expect([reply.grpcStatus, reply.errorCode], reply.grpcMessage).toEqual([status.INVALID_ARGUMENT, code]);
  expect(reply.grpcMessage.startsWith(`${code}: `)).toBe(true);
}

const input = (fields: Parameters<typeof inputTensor>[0]) => inputTensor(fields);
const floats = (count: number) => Buffer.alloc(count * 4);

describe('malformed protobuf on the wire', { timeout: 60_000 }, () => {
  const varintOverflow = Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  let nested = new Uint8Array(0);
  for (let i = 0; i < 200; i++) nested = new BinaryWriter().tag(5, WireType.LengthDelimited).bytes(nested).finish();
  it.each([
    ['random bytes', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256))],
    ['a length-delimited field running past the end', Buffer.from([0x2a, 0x7f, 0x01, 0x02])],
    ['a varint of eleven bytes', varintOverflow],
    ['a reserved wire type (6)', Buffer.from([0x0e, 0x01])],
    ['an end-group without a start', Buffer.from([0x0c])],
    ['field number 0', Buffer.from([0x02, 0x00])],
    ['200 nested inputs', Buffer.from(nested)],
    ['a string that is not UTF-8 where the model name goes', Buffer.from([0x0a, 0x02, 0xc3, 0x28])],
  ])('%s: INVALID_ARGUMENT MALFORMED_BODY, or what the bytes decode to', async (_name, message) => {
    const reply = await rawCall(h.address, frame(message));
    expect(reply.http).toBe(200);
    // protobufjs reads a known field whatever its wire type: such bytes decode to a model name
    // that does not exist, or to a request without an input.
    expect([
      [status.INVALID_ARGUMENT, 'MALFORMED_BODY'],
      [status.INVALID_ARGUMENT, 'INVALID_TENSOR'],
      [status.NOT_FOUND, 'MODEL_NOT_FOUND'],
    ]).toContainEqual([reply.grpcStatus, reply.errorCode]);
  });

  it('a length prefix larger than the body: the stream ends unfinished, answered without a crash', async () => {
    const reply = await rawCall(h.address, frame(Buffer.from([0x0a, 0x01]), 1000));
    expect(reply.grpcStatus).not.toBe(status.OK);
    expect(reply.grpcStatus).not.toBe(undefined);
  });

  it('a length prefix past GRPC_MAX_MESSAGE_BYTES is refused from the prefix, before the bytes arrive', async () => {
    const reply = await rawCall(h.address, frame(Buffer.alloc(16), 0xfffffff0));
    expect(reply.grpcStatus).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('a compressed message without a grpc-encoding is refused, not decoded', async () => {
    const reply = await rawCall(h.address, frame(inferMessage([]), undefined, true));
    expect(reply.grpcStatus).not.toBe(status.OK);
    expect(reply.grpcStatus).not.toBe(undefined);
  });

  it('a body that is not gRPC framing (no prefix), and a request without the gRPC content type', async () => {
    const bare = await rawCall(h.address, Buffer.from([0x0a]));
    expect(bare.grpcStatus).not.toBe(status.OK);
    const json = await rawCall(h.address, Buffer.from('{"inputs": []}'), {
      headers: { 'content-type': 'application/json' },
    });
    expect(json.http).not.toBe(200);
  });

  it('still serves the model', stillServes);
});

describe('raw contents whose size disagrees with the shape', { timeout: 60_000 }, () => {
  it.each([
    ['a byte short', ROW * 4 - 1],
    ['a byte over', ROW * 4 + 1],
    ['one row for a shape of two', ROW * 4],
    ['empty', 0],
  ])('%s: INVALID_TENSOR', async (name, bytes) => {
    const rows = name.startsWith('one row') ? 2 : 1;
    const message = inferMessage([input({ shape: [rows, 3, 224, 224] })], [Buffer.alloc(bytes)]);
    expectRefused(await rawCall(h.address, frame(message)), 'INVALID_TENSOR');
  });

  it.each([
    ['more elements than the shape', [goodPng, goodPng], 1],
    ['fewer elements than the shape', [goodPng], 2],
    ['a length prefix past the data', null, 1],
  ])('BYTES with %s: INVALID_TENSOR', async (_name, elements, rows) => {
    const raw =
      elements === null ? Buffer.from([0xff, 0xff, 0xff, 0x0f, 1, 2, 3]) : Buffer.from(bytesElements(elements));
    const message = inferMessage([input({ name: 'images', datatype: 'BYTES', shape: [rows] })], [raw]);
    expectRefused(await rawCall(h.address, frame(message)), 'INVALID_TENSOR');
  });

  it('still serves the model', stillServes);
});

describe('huge, negative and absurd declared shapes: refused before any allocation', { timeout: 60_000 }, () => {
  it.each([
    ['2^53-1 rows', 'TOO_MANY_IMAGES', [2 ** 53 - 1, 3, 224, 224]],
    ['2^63-1 rows (beyond a double)', 'INVALID_TENSOR', [2n ** 63n - 1n, 3n, 224n, 224n]],
    ['10^12 BYTES elements', 'TOO_MANY_IMAGES', [1e12]],
    ['a billion channels', 'INVALID_TENSOR', [1, 1e9, 224, 224]],
    ['-1 rows', 'INVALID_TENSOR', [-1, 3, 224, 224]],
    ['a negative channel count', 'INVALID_TENSOR', [1, -3, 224, 224]],
    ['-2^63', 'INVALID_TENSOR', [-(2n ** 63n), 3n, 224n, 224n]],
    ['no dims at all', 'INVALID_TENSOR', []],
    ['17 dims', 'INVALID_TENSOR', Array.from({ length: 17 }, () => 1)],
    ['a million dims (packed)', 'INVALID_TENSOR', Array.from({ length: 1_000_000 }, () => 1)],
  ])('%s: %s, at once', async (name, code, shape) => {
    const bytesInput = name.includes('BYTES');
    const message = inferMessage([input({ shape, ...(bytesInput ? { name: 'images', datatype: 'BYTES' } : {}) })]);
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    expectRefused(await rawCall(h.address, frame(message)), code);
    expect(performance.now() - started).toBeLessThan(2000);
    // No tensor of the declared size was made (a row is 0.6 MB; these declare terabytes).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('still serves the model', stillServes);
});

describe('wrong datatypes and inputs', { timeout: 60_000 }, () => {
  it.each(['FP16', 'fp32', 'FP64', 'INT8', 'UINT8', 'BOOL', '', 'FP32 '])(
    'datatype %j: INVALID_TENSOR',
    async (datatype) => {
      const message = inferMessage([input({ datatype, shape: [1, 3, 224, 224] })], [floats(ROW)]);
      expectRefused(await rawCall(h.address, frame(message)), 'INVALID_TENSOR');
    },
  );

  it('FP32 floats sent as a BYTES tensor are not images: UNSUPPORTED_IMAGE_FORMAT or INVALID_TENSOR', async () => {
    const message = inferMessage(
      [input({ name: 'images', datatype: 'BYTES', shape: [1] })],
      [Buffer.from(float32Le(GOOD))],
    );
    const reply = await rawCall(h.address, frame(message));
    expect(reply.grpcStatus).toBe(status.INVALID_ARGUMENT);
    expect(['INVALID_TENSOR', 'UNSUPPORTED_IMAGE_FORMAT']).toContain(reply.errorCode);
  });

  it.each([
    ['two raw entries for one input', [input({ shape: [1, 3, 224, 224] })], 2],
    ['a raw entry and no input', [], 1],
    ['a thousand raw entries', [input({ shape: [1, 3, 224, 224] })], 1000],
  ])('%s: INVALID_TENSOR', async (_name, inputs, rawCount) => {
    const raw = Array.from({ length: rawCount }, () => floats(rawCount > 2 ? 1 : ROW));
    expectRefused(await rawCall(h.address, frame(inferMessage(inputs, raw))), 'INVALID_TENSOR');
  });

  it('still serves the model', stillServes);
});

describe('repeated-field bombs: refused on the wire before protobufjs decodes them', { timeout: 60_000 }, () => {
  const prefix = inferMessage([]);
  const emptyParameter = new BinaryWriter().tag(1, WireType.LengthDelimited).string('k').finish();
  const contents = (fieldNo: number, count: number) => {
    const w = new BinaryWriter();
    for (let i = 0; i < count; i++) w.tag(fieldNo, WireType.LengthDelimited).bytes(new Uint8Array(0));
    return w.finish();
  };
  const bytesInput = (count: number) => {
    const w = new BinaryWriter().raw(input({ name: 'images', datatype: 'BYTES', shape: [count] }));
    w.tag(5, WireType.LengthDelimited).bytes(contents(8, count));
    return w.finish();
  };
  it.each([
    ['a million empty inputs', 'INVALID_TENSOR', repeatedField(prefix, 5, new Uint8Array(0), 1_000_000)],
    ['a million empty outputs', 'INVALID_TENSOR', repeatedField(prefix, 6, new Uint8Array(0), 1_000_000)],
    ['a million raw entries', 'INVALID_TENSOR', repeatedField(prefix, 7, new Uint8Array(0), 1_000_000)],
    ['half a million request parameters', 'INVALID_PARAMETER', repeatedField(prefix, 4, emptyParameter, 500_000)],
    ['a million empty BYTES elements', 'TOO_MANY_IMAGES', Buffer.from(inferMessage([bytesInput(1_000_000)]))],
  ])('%s: %s, fast and without a memory spike', async (_name, code, message) => {
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    expectRefused(await rawCall(h.address, frame(message)), code);
    expect(performance.now() - started).toBeLessThan(3000);
    // Decoded, a million sub-messages would hold hundreds of MB of objects.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(150 * 1024 * 1024);
  });

  it('still serves the model', stillServes);
});

describe('BYTES elements that are not images', { timeout: 60_000 }, () => {
  const wide = Buffer.from(goodPng);
  // The PNG's IHDR width and height (bytes 16-23) say 60000 x 60000: 3.6 GP.
  wide.writeUInt32BE(60_000, 16);
  wide.writeUInt32BE(60_000, 20);
  it.each([
    ['text', Buffer.from('hello, this is not an image'), ['UNSUPPORTED_IMAGE_FORMAT']],
    ['zeros', Buffer.alloc(4096), ['UNSUPPORTED_IMAGE_FORMAT']],
    ['an empty element', Buffer.alloc(0), ['UNSUPPORTED_IMAGE_FORMAT', 'IMAGE_UNDECODABLE', 'NO_IMAGES']],
    ['half a JPEG', fixture('landscape-500x375.jpg').subarray(0, 3000), ['IMAGE_UNDECODABLE']],
    ['a PNG declaring 60000 x 60000 pixels', wide, ['IMAGE_TOO_MANY_PIXELS', 'IMAGE_UNDECODABLE']],
    [
      'an SVG (not a raster format taken)',
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
      ['UNSUPPORTED_IMAGE_FORMAT'],
    ],
  ])('%s: INVALID_ARGUMENT with its code', async (_name, element, codes) => {
    const outcome = await call(h.client, 'ModelInfer', {
      model_name: 'resnet50',
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [element] } }],
    });
    expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
    expect(codes).toContain(errorCode(outcome));
  });

  it('one bad image among good ones fails the call, not the server', async () => {
    const outcome = await call(h.client, 'ModelInfer', {
      model_name: 'resnet50',
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [3] }],
      raw_input_contents: [Buffer.from(bytesElements([goodPng, Buffer.from('nope'), goodPng]))],
    });
    expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
  });

  it('still serves the model', stillServes);
});

describe('oversized metadata', { timeout: 60_000 }, () => {
  const serverLive = { path: '/inference.GRPCInferenceService/ServerLive' };
  it('metadata just under the limit is served', async () => {
    const headers = { 'x-large': 'a'.repeat(MAX_METADATA_BYTES - 1024) };
    const reply = await rawCall(h.address, frame(new Uint8Array(0)), { ...serverLive, headers });
    expect(reply.grpcStatus).toBe(status.OK);
  });

  it.each([
    ['17 kB in one value', { 'x-huge': 'a'.repeat(17_000) }],
    ['60 kB in one value', { 'x-huge': 'ab'.repeat(30_000) }],
    [
      '100 entries of 200 bytes',
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-h${i}`, 'v'.repeat(200)])),
    ],
  ])('%s: RESOURCE_EXHAUSTED METADATA_TOO_LARGE before the handler runs', async (_name, headers) => {
    const reply = await rawCall(h.address, frame(new Uint8Array(0)), { ...serverLive, headers });
    expect([reply.grpcStatus, reply.errorCode]).toEqual([status.RESOURCE_EXHAUSTED, 'METADATA_TOO_LARGE']);
  });

  it.each([
    ["100 kB in one value (past HTTP/2's 64 kB header list)", { 'x-huge': 'ab'.repeat(50_000) }],
    [
      '2000 entries (past 128 header pairs)',
      Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h${i}`, 'v'])),
    ],
  ])('%s: the stream is refused by HTTP/2', async (_name, headers) => {
    const reply = await rawCall(h.address, frame(new Uint8Array(0)), { ...serverLive, headers });
    expect(String(reply.http)).toMatch(/^RST /);
  });

  it('a grpc-js client with 30 kB of metadata gets RESOURCE_EXHAUSTED METADATA_TOO_LARGE', async () => {
    const metadata = new Metadata();
    metadata.set('x-huge', 'ab'.repeat(15_000));
    const outcome = await call(h.client, 'ServerLive', {}, { metadata, deadlineMs: 5000 });
    expect(outcome).toMatchObject({ ok: false, code: status.RESOURCE_EXHAUSTED });
    expect(errorCode(outcome)).toBe('METADATA_TOO_LARGE');
  });

  it('still serves the model', stillServes);
});

describe('many concurrent streams', { timeout: 90_000 }, () => {
  it('500 calls at once on one grpc-js connection: each gets its answer or a clear refusal, none INTERNAL', async () => {
    const client = inferenceClient(h.address);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          i % 5 === 0
            ? call(client, 'ModelInfer', {
                model_name: 'resnet50',
                inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
                raw_input_contents: [Buffer.from(float32Le(GOOD))],
              })
            : call(client, 'ModelReady', { name: 'resnet50' }),
        ),
      );
      const codes = new Set(outcomes.map((o) => (o.ok ? 'OK' : errorCode(o))));
      for (const code of codes) expect(['OK', 'QUEUE_FULL']).toContain(code);
      expect(outcomes.filter((o) => o.ok).length).toBeGreaterThan(400);
    } finally {
      client.close();
    }
  });

  it('more streams than GRPC_MAX_CONCURRENT_STREAMS on a raw connection: the extra ones are refused', async () => {
    const session = connect(`http://${h.address}`);
    session.on('error', () => {});
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    // Streams held open (their request never ends) past the limit.
    const streams = Array.from({ length: 150 }, () => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/inference.GRPCInferenceService/ServerLive',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('error', () => {});
      return stream;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pending = streams.filter((s) => s.pending || s.destroyed || s.rstCode !== undefined);
    // Node's client queues streams past the peer's limit rather than send them.
    expect(pending.length).toBeGreaterThanOrEqual(50);
    for (const stream of streams) stream.close();
    session.destroy();
  });

  it('still serves the model', stillServes);
});
