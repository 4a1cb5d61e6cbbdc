// Hostile bodies for POST /predict (app.inject, the transport does not matter here): empty and
// truncated bodies, random bytes under every image content type, JSON that is not JSON or is
// nested, huge or shaped wrong, invalid base64, bad topk values, and hostile multipart. Each gets
// its documented status and code, and after each group a good request still gets the right answer.
import { getDefaultHighWaterMark } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RAW_IMAGE_TYPES } from '../../src/server/routes/predict-bodies.ts';
import { HTML, PDF, SVG, multipartBody, noise, png8x8, type Part } from './crafted.ts';
import {
  MAX_BODY_BYTES,
  MAX_IMAGE_BYTES,
  expectError,
  expectStillServing,
  goodJpeg,
  goodPng,
  startApp,
} from './helpers.ts';

interface Case {
  readonly name: string;
  readonly url?: string;
  readonly payload?: Buffer | string;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
}

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app?.close();
});

async function expectCase(c: Case): Promise<void> {
  const response = await app.inject({
    method: 'POST',
    url: c.url ?? '/predict',
    payload: c.payload,
    headers: c.headers ?? {},
  });
  expectError(response, c.status, c.code);
}

const raw = (type: string, payload: Buffer | string): Pick<Case, 'payload' | 'headers'> => ({
  payload,
  headers: { 'content-type': type },
});
const json = (payload: unknown): Pick<Case, 'payload' | 'headers'> =>
  raw('application/json', typeof payload === 'string' ? payload : JSON.stringify(payload));
const mp = (parts: readonly Part[], options: { close?: boolean } = {}): Pick<Case, 'payload' | 'headers'> =>
  multipartBody(parts, options);
const smallPng = png8x8();
const pngParts = (n: number): Part[] =>
  Array.from({ length: n }, (_, i) => ({
    field: 'image',
    filename: `${i}.png`,
    contentType: 'image/png',
    data: smallPng,
  }));

describe('empty, truncated and random bodies', { timeout: 10_000 }, () => {
  const cases: Case[] = [
    { name: 'an empty raw image body', ...raw('image/jpeg', Buffer.alloc(0)), status: 400, code: 'NO_IMAGES' },
    { name: 'no body and no content type', status: 400, code: 'NO_IMAGES' },
    { name: 'an empty JSON body', ...json(''), status: 400, code: 'INVALID_JSON' },
    {
      name: 'the first half of a JPEG',
      ...raw('image/jpeg', goodJpeg.subarray(0, goodJpeg.length >> 1)),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    {
      name: 'the first 100 bytes of a PNG',
      ...raw('image/png', goodPng.subarray(0, 100)),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    {
      name: 'a JPEG signature alone',
      ...raw('image/jpeg', Buffer.from([0xff, 0xd8, 0xff])),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    {
      name: 'noise behind a JPEG signature',
      ...raw('image/jpeg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noise(4000)])),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    {
      name: 'noise behind a PNG signature',
      ...raw('image/png', Buffer.concat([goodPng.subarray(0, 8), noise(4000)])),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    ...RAW_IMAGE_TYPES.map((type): Case => ({
      name: `4 kB of random bytes as ${type}`,
      ...raw(type, noise(4000)),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    })),
    { name: 'text/plain', ...raw('text/plain', 'hello'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'image/svg+xml', ...raw('image/svg+xml', SVG), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'text/html', ...raw('text/html', HTML), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'application/pdf', ...raw('application/pdf', PDF), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    {
      name: 'an url-encoded form',
      ...raw('application/x-www-form-urlencoded', 'image=http%3A%2F%2F127.0.0.1%2Fa.jpg'),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('JSON bodies', { timeout: 10_000 }, () => {
  const nestedArrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const nestedObjects = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
  const manyKeys = `{${Array.from({ length: 100_000 }, (_, i) => `"k${i}":0`).join(',')}}`;
  const cases: Case[] = [
    { name: 'JSON cut short', ...json('{"images": ["'), status: 400, code: 'INVALID_JSON' },
    { name: 'JSON with a trailing comma', ...json('{"images": [],}'), status: 400, code: 'INVALID_JSON' },
    { name: 'arrays nested 100,000 deep', ...json(nestedArrays), status: 400, code: 'INVALID_PARAMETER' },
    { name: 'objects nested 50,000 deep', ...json(nestedObjects), status: 400, code: 'INVALID_PARAMETER' },
    {
      name: 'images nested in arrays',
      ...json({ images: [[[[goodPng.toString('base64')]]]] }),
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    { name: 'an object of 100,000 keys', ...json(manyKeys), status: 400, code: 'INVALID_PARAMETER' },
    {
      name: 'a JSON string over MAX_BODY_BYTES',
      ...json({ images: ['A'.repeat(MAX_BODY_BYTES)] }),
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    {
      name: 'a base64 image over MAX_IMAGE_BYTES inside the body limit',
      ...json({ images: ['A'.repeat(Math.ceil((MAX_IMAGE_BYTES * 4) / 3) + 8)] }),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
    },
    { name: 'a top-level array', ...json([goodPng.toString('base64')]), status: 400, code: 'INVALID_PARAMETER' },
    { name: 'null', ...json('null'), status: 400, code: 'INVALID_PARAMETER' },
    { name: 'a number where an image is expected', ...json({ images: [1] }), status: 400, code: 'INVALID_PARAMETER' },
    {
      name: 'an extra key',
      ...json({ images: [goodPng.toString('base64')], url: 'http://127.0.0.1/' }),
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    {
      name: 'a __proto__ key',
      ...json(`{"__proto__": {"polluted": 1}, "images": ["${goodPng.toString('base64')}"]}`),
      status: 400,
      code: 'INVALID_JSON',
    },
    {
      name: 'a constructor.prototype key',
      ...json('{"constructor": {"prototype": {"polluted": 1}}}'),
      status: 400,
      code: 'INVALID_JSON',
    },
    { name: 'an empty image list', ...json({ images: [] }), status: 400, code: 'NO_IMAGES' },
    {
      name: '1,000 images (limit 4)',
      ...json({ images: Array.from({ length: 1000 }, () => 'AAAA') }),
      status: 413,
      code: 'TOO_MANY_IMAGES',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('leaves Object.prototype untouched by the pollution attempts', () => {
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('base64 images', { timeout: 10_000 }, () => {
  const cases: Case[] = [
    { name: 'punctuation', ...json({ images: ['!!!!'] }), status: 400, code: 'INVALID_BASE64' },
    {
      name: '64 base64 characters then "!" (exponential backtracking before the fix)',
      ...json({ images: [`${'A'.repeat(64)}!`] }),
      status: 400,
      code: 'INVALID_BASE64',
    },
    {
      name: '200,000 mixed-alphabet characters then "!"',
      ...json({ images: [`${'Ab+/_-'.repeat(33_334)}!`] }),
      status: 400,
      code: 'INVALID_BASE64',
    },
    { name: 'a length of 4n+1', ...json({ images: ['AAAAA'] }), status: 400, code: 'INVALID_BASE64' },
    { name: 'padding in the middle', ...json({ images: ['AA==AAAA'] }), status: 400, code: 'INVALID_BASE64' },
    { name: 'an empty string', ...json({ images: [''] }), status: 400, code: 'IMAGE_UNDECODABLE' },
    {
      name: 'a URL (never fetched)',
      ...json({ images: ['http://127.0.0.1:9/cat.jpg'] }),
      status: 400,
      code: 'INVALID_BASE64',
    },
    {
      name: 'a file path (read as base64 bytes, never opened)',
      ...json({ images: ['/etc/passwd'] }),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    {
      name: 'a file: data URL',
      ...json({ images: ['data:text/uri-list;base64,ZmlsZTovLy9ldGMvcGFzc3dk'] }),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    {
      name: 'an SVG data URL',
      ...json({ images: [`data:image/svg+xml;base64,${SVG.toString('base64')}`] }),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    {
      name: 'base64 of random bytes',
      ...json({ images: [noise(3000).toString('base64')] }),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    {
      name: 'one bad image among good ones',
      ...json({ images: [goodPng.toString('base64'), '!!!!'] }),
      status: 400,
      code: 'INVALID_BASE64',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('query parameters', { timeout: 10_000 }, () => {
  const image = raw('image/png', goodPng);
  const cases: Case[] = [
    ...['0', '-1', '1.5', 'abc', '11', '', '1e400', 'Infinity', '-Infinity', 'NaN', '[]'].map((k): Case => ({
      name: `topk=${k}`,
      url: `/predict?topk=${encodeURIComponent(k)}`,
      ...image,
      status: 400,
      code: 'INVALID_PARAMETER',
    })),
    { name: 'topk repeated', url: '/predict?topk=2&topk=3', ...image, status: 400, code: 'INVALID_PARAMETER' },
    { name: 'timeout_ms=-1', url: '/predict?timeout_ms=-1', ...image, status: 400, code: 'INVALID_PARAMETER' },
    {
      name: 'X-Request-Timeout-Ms: abc',
      payload: goodPng,
      headers: { 'content-type': 'image/png', 'x-request-timeout-ms': 'abc' },
      status: 400,
      code: 'INVALID_PARAMETER',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('accepts topk at the number of classes (10) and returns them all, scores descending', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/predict?topk=10',
      payload: goodPng,
      headers: { 'content-type': 'image/png' },
    });
    expect(response.statusCode).toBe(200);
    const scores =
      response
        .json<{ results: { predictions: { score: number }[] }[] }>()
        .results[0]?.predictions.map((p) => p.score) ?? [];
    expect(scores).toHaveLength(10);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });
});

describe('multipart bodies', { timeout: 10_000 }, () => {
  const field = (n: number): Part[] => Array.from({ length: n }, (_, i) => ({ field: `f${i}`, data: 'x' }));
  // busboy stalls on the skipped part only once more data follows than a stream buffers: Node's
  // default highWaterMark (16 KiB on Node 20, 64 KiB since 22), so twice that follows here.
  const headerBomb = Buffer.concat([
    Buffer.from(
      `--hardening-boundary-7f3a\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n`,
    ),
    Buffer.from('Content-Disposition: form-data; name="f"; filename="a.png"\r\n\r\n'),
    goodPng,
    Buffer.alloc(2 * getDefaultHighWaterMark(false), 7),
    Buffer.from('\r\n--hardening-boundary-7f3a--\r\n'),
  ]);
  const cases: Case[] = [
    { name: 'no file, one field', ...mp(field(1)), status: 400, code: 'INVALID_PARAMETER' },
    { name: 'no parts at all', ...mp([]), status: 400, code: 'NO_IMAGES' },
    {
      name: 'a field before a good file',
      ...mp([{ field: 'note', data: 'hello' }, ...pngParts(1)]),
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    {
      name: 'an image sent as a field (no filename)',
      ...mp([{ field: 'image', contentType: 'image/png', data: goodPng }]),
      status: 400,
      code: 'INVALID_PARAMETER',
    },
    { name: '300 file parts (limit 4)', ...mp(pngParts(300)), status: 413, code: 'TOO_MANY_IMAGES' },
    { name: '300 fields', ...mp(field(300)), status: 400, code: 'INVALID_PARAMETER' },
    {
      name: 'a file over MAX_IMAGE_BYTES',
      ...mp([{ field: 'image', filename: 'big.png', data: Buffer.alloc(MAX_IMAGE_BYTES + 1) }]),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
    },
    {
      name: 'a body over MAX_BODY_BYTES',
      ...mp([{ field: 'image', filename: 'a.png', data: Buffer.alloc(MAX_BODY_BYTES + 1) }]),
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    {
      name: 'an empty file',
      ...mp([{ field: 'image', filename: 'empty.png', data: Buffer.alloc(0) }]),
      status: 400,
      code: 'IMAGE_UNDECODABLE',
    },
    {
      name: 'a random-bytes file',
      ...mp([{ field: 'image', filename: 'x.jpg', contentType: 'image/jpeg', data: noise(4000) }]),
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
    },
    { name: 'a body cut inside a file', ...mp(pngParts(1), { close: false }), status: 400, code: 'MALFORMED_BODY' },
    {
      name: 'no boundary line at all',
      ...raw('multipart/form-data; boundary=hardening-boundary-7f3a', 'garbage'),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'a multipart type without a boundary',
      ...raw('multipart/form-data', 'x'),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    // busboy skips the part and then never finishes the body: BODY_TIMEOUT_MS (1.5 s here) ends it.
    {
      name: 'a part with 5,000 header lines before more data than a stream buffers',
      ...raw('multipart/form-data; boundary=hardening-boundary-7f3a', headerBomb),
      status: 408,
      code: 'REQUEST_TIMEOUT',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('uses only the base name of a hostile filename, as a label, never as a path', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      ...mp([{ field: 'image', filename: `${'../'.repeat(100)}etc/passwd`, data: goodPng }]),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<{ results: { name: string }[] }>().results[0]?.name).toBe('passwd');
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('raw bodies over the limits', { timeout: 10_000 }, () => {
  const cases: Case[] = [
    {
      name: 'a raw image one byte over MAX_IMAGE_BYTES',
      ...raw('image/jpeg', Buffer.alloc(MAX_IMAGE_BYTES + 1)),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
    },
    // A raw body is one image, and MAX_IMAGE_BYTES <= MAX_BODY_BYTES: the image limit answers first.
    {
      name: 'a raw body over MAX_BODY_BYTES',
      ...raw('application/octet-stream', Buffer.alloc(MAX_BODY_BYTES + 1)),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
    },
  ];
  it.each(cases)('$name: $status $code', expectCase);

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});
