// Where the transport matters (a real listening server, raw sockets): clients that trickle a body
// or headers, bodies that end early, declared or chunked bodies over each limit, requests that do
// not parse (smuggling attempts, huge headers, NUL bytes), and path tricks sent byte for byte.
// Every connection gets its answer and is closed; none is left open; good requests keep working.
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINGER_BOUNDS } from '../../src/server/plugins/lingering-close.ts';
import { BOUNDARY } from './crafted.ts';
import {
  MAX_BODY_BYTES,
  codeOf,
  connectionsOf,
  expectStillServing,
  goodPng,
  portOf,
  rawExchange,
  requestHead,
  startApp,
} from './helpers.ts';

const BODY_TIMEOUT_MS = 1500;

let app: FastifyInstance;
let port: number;
beforeAll(async () => {
  app = await startApp({ BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) }, { listen: true });
  port = portOf(app);
});
afterAll(async () => {
  await app?.close();
});

const pngHead = (length: number, extra: Record<string, string> = {}) =>
  requestHead('POST', '/predict', { 'content-type': 'image/png', 'content-length': length, ...extra });

async function expectNoConnectionsLeft(): Promise<void> {
  for (let i = 0; i < 40 && (await connectionsOf(app)) > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await connectionsOf(app)).toBe(0);
}

describe('slow clients', { timeout: 20_000 }, () => {
  it('answers a body trickled one byte every 100 ms with 408 REQUEST_TIMEOUT after BODY_TIMEOUT_MS, and closes the socket', async () => {
    const bytes = Array.from({ length: 60 }, (_, i) => goodPng.subarray(i, i + 1));
    const response = await rawExchange(port, [pngHead(goodPng.length), ...bytes], { gapMs: 100 });
    expect(response.status).toBe(408);
    expect(codeOf(response)).toBe('REQUEST_TIMEOUT');
    expect(response.closedByServer).toBe(true);
    expect(response.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
  });

  it('answers headers that never end with 408 REQUEST_TIMEOUT', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => `x-slow-${i}: 1\r\n`);
    const response = await rawExchange(port, ['POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\n', ...lines], {
      gapMs: 100,
    });
    expect(response.status).toBe(408);
    expect(response.closedByServer).toBe(true);
  });

  it('answers a body shorter than its Content-Length (client then idle) with 408', async () => {
    const response = await rawExchange(port, [pngHead(goodPng.length + 100), goodPng]);
    expect(response.status).toBe(408);
    expect(response.closedByServer).toBe(true);
  });

  it('keeps serving others while 20 clients trickle bodies at once', async () => {
    const bytes = Array.from({ length: 30 }, (_, i) => goodPng.subarray(i, i + 1));
    const slow = Array.from({ length: 20 }, () =>
      rawExchange(port, [pngHead(goodPng.length), ...bytes], { gapMs: 100 }),
    );
    let slowAnswered = 0;
    for (const exchange of slow) void exchange.then(() => (slowAnswered += 1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const good = await rawExchange(port, [pngHead(goodPng.length, { connection: 'close' }), goodPng]);
    expect(good.status).toBe(200);
    // Answered while every slow client was still trickling, not after they were cut off.
    expect(slowAnswered).toBe(0);
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual(new Array(20).fill(408));
    await expectNoConnectionsLeft();
  });
});

describe('bodies over the limits, over the wire', { timeout: 10_000 }, () => {
  const over = MAX_BODY_BYTES + 1;
  it.each([
    ['a raw image', '/predict', 'image/png', 'IMAGE_TOO_LARGE'],
    ['JSON', '/predict', 'application/json', 'BODY_TOO_LARGE'],
    ['multipart', '/predict', `multipart/form-data; boundary=${BOUNDARY}`, 'BODY_TOO_LARGE'],
    ['a V2 request', '/v2/models/resnet50/infer', 'application/octet-stream', 'BODY_TOO_LARGE'],
  ])(
    'refuses %s declared over MAX_BODY_BYTES with 413 before reading it, and closes the connection',
    async (_kind, path, type, code) => {
      const response = await rawExchange(port, [
        requestHead('POST', path, { 'content-type': type, 'content-length': over }),
        Buffer.alloc(10_000, 0x20),
      ]);
      expect(response.status).toBe(413);
      expect(codeOf(response)).toBe(code);
      expect(response.closedByServer).toBe(true);
    },
  );

  it.each([
    ['a raw image', 'image/png', 'IMAGE_TOO_LARGE'],
    ['JSON', 'application/json', 'BODY_TOO_LARGE'],
  ])('refuses a chunked %s that grows past its limit with 413', async (_kind, type, code) => {
    const chunk = `186a0\r\n${' '.repeat(100_000)}\r\n`;
    const head = requestHead('POST', '/predict', { 'content-type': type, 'transfer-encoding': 'chunked' });
    const response = await rawExchange(port, [head, ...new Array<string>(30).fill(chunk)]);
    expect(response.status).toBe(413);
    expect(codeOf(response)).toBe(code);
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
    await expectNoConnectionsLeft();
  });
});

describe('after an early refusal: a graceful close, still bounded', { timeout: 20_000 }, () => {
  it('drops at most LINGER_BOUNDS.maxBytes of the rest of a body, then resets: a 200 MB upload is not read in full', async () => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(pngHead(200_000_000));
    const chunk = Buffer.alloc(1024 * 1024);
    while (!socket.destroyed && socket.bytesWritten < 200_000_000) {
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    // What was dropped, plus what the two sockets' kernel buffers held when the server reset.
    expect(socket.bytesWritten).toBeLessThan(LINGER_BOUNDS.maxBytes + 16 * 1024 * 1024);
    await expectNoConnectionsLeft();
  });

  it('closes a connection whose client neither sends nor closes LINGER_BOUNDS.maxMs after the answer', async () => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    socket.resume();
    socket.write(pngHead(MAX_BODY_BYTES + 1));
    const answered = await new Promise<number>((resolve) => socket.once('end', () => resolve(performance.now())));
    expect(await connectionsOf(app)).toBe(1);
    for (let i = 0; i < 100 && (await connectionsOf(app)) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const held = performance.now() - answered;
    expect(await connectionsOf(app)).toBe(0);
    expect(held).toBeGreaterThanOrEqual(LINGER_BOUNDS.maxMs - 100);
    expect(held).toBeLessThan(LINGER_BOUNDS.maxMs + 2000);
    socket.destroy();
  });
});

describe('requests that do not parse', { timeout: 10_000 }, () => {
  it.each([
    ['a body the client cuts short', [pngHead(goodPng.length + 100), goodPng], true],
    [
      'Content-Length with Transfer-Encoding (smuggling)',
      [`${pngHead(4, { 'transfer-encoding': 'chunked' })}0\r\n\r\n`],
      false,
    ],
    ['a negative Content-Length', [pngHead(-5)], false],
    [
      'two different Content-Lengths',
      ['POST /predict HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\n12345'],
      false,
    ],
    [
      'a 20 kB header',
      [`POST /predict HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`],
      false,
    ],
    ['a raw NUL in the path', ['GET /v2/models/res\0net/ready HTTP/1.1\r\nhost: x\r\n\r\n'], false],
    ['a bare LF in a header', ['GET /v2 HTTP/1.1\r\nhost: x\nx-a: b\r\n\r\n'], false],
  ] as const)('answers %s with 400 MALFORMED_BODY and closes the connection', async (_name, chunks, end) => {
    const response = await rawExchange(port, chunks, { end });
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('MALFORMED_BODY');
    expect(response.closedByServer).toBe(true);
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('path tricks sent byte for byte', { timeout: 10_000 }, () => {
  const get = (path: string) => rawExchange(port, [`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`]);
  it.each([
    '/v2/models/%2e%2e/ready',
    '/v2/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/v2/models/..%2f..%2fmodels%2fresnet50/ready',
    '/v2/models/resnet50%00/ready',
    '/v2/models/.%2e/versions/1',
  ])('answers %s with 404 MODEL_NOT_FOUND', async (path) => {
    const response = await get(path);
    expect(response.status).toBe(404);
    expect(codeOf(response)).toBe('MODEL_NOT_FOUND');
  });

  it.each([
    '/v2/models/../../../etc/passwd',
    '/../../etc/passwd',
    '/models/resnet50.onnx',
    '/models/resnet50.json',
    '/test/fixtures/images/tiny-120x90.png',
    '/docs/../package.json',
  ])('answers %s with 404 NOT_FOUND: no route serves files', async (path) => {
    const response = await get(path);
    expect(response.status).toBe(404);
    expect(codeOf(response)).toBe('NOT_FOUND');
  });

  it('answers a path that is not valid percent-encoding with 400 INVALID_PARAMETER in the registry shape', async () => {
    const response = await get('/predict%zz');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: { code: 'INVALID_PARAMETER', message: expect.any(String) } });
  });

  it('answers an absolute-form target for another host as this server, never as a proxy', async () => {
    const response = await get('http://169.254.169.254/latest/meta-data/');
    expect(response.status).toBe(404);
    expect(codeOf(response)).toBe('NOT_FOUND');
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
    await expectNoConnectionsLeft();
  });
});
