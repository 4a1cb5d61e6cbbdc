// Hostile images through POST /predict: decompression bombs (headers that claim far more pixels
// than the bytes carry) refused from the header, formats that are never decoded (SVG, PDF, HTML),
// and polyglots, which are classified as the image they start with and never echoed back.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HTML,
  PDF,
  SVG,
  flatLosslessWebp,
  gifJsPolyglot,
  jpegWithFrameSize,
  manyFrameGif,
  multipartBody,
  pngBomb,
  vp8lWithSize,
  webpWithCanvas,
} from './crafted.ts';
import {
  expectError,
  expectSamePredictions,
  expectStillServing,
  expectedPredictions,
  goodJpeg,
  startApp,
} from './helpers.ts';

let app: FastifyInstance;
let webp: Buffer;
beforeAll(async () => {
  app = await startApp();
  webp = await flatLosslessWebp(16, 16);
});
afterAll(async () => {
  await app?.close();
});

const post = (payload: Buffer | string, type: string, url = '/predict') =>
  app.inject({ method: 'POST', url, payload, headers: { 'content-type': type } });

interface PredictBody {
  results: { name: string; predictions: { index: number; label: string; score: number }[] }[];
}

describe('decompression bombs (MAX_IMAGE_PIXELS 40 MP)', { timeout: 10_000 }, () => {
  it('refuses a 1 kB PNG that claims 50000x50000 with 413 IMAGE_TOO_MANY_PIXELS', async () => {
    const bomb = pngBomb(50_000, 50_000);
    expect(bomb.length).toBeLessThan(2000);
    expectError(await post(bomb, 'image/png'), 413, 'IMAGE_TOO_MANY_PIXELS');
  });

  it('refuses a JPEG whose frame header claims 65000x65000, and one at 8000x6000 (48 MP)', async () => {
    expectError(await post(jpegWithFrameSize(goodJpeg, 65_000, 65_000), 'image/jpeg'), 413, 'IMAGE_TOO_MANY_PIXELS');
    expectError(await post(jpegWithFrameSize(goodJpeg, 8000, 6000), 'image/jpeg'), 413, 'IMAGE_TOO_MANY_PIXELS');
  });

  it('refuses a 38-byte WebP whose VP8L header claims 10000x10000, and says 400 when it claims 16384x16384 (over the decoder bound)', async () => {
    expectError(await post(vp8lWithSize(webp, 10_000, 10_000), 'image/webp'), 413, 'IMAGE_TOO_MANY_PIXELS');
    expectError(await post(vp8lWithSize(webp, 16_384, 16_384), 'image/webp'), 400, 'IMAGE_UNDECODABLE');
  });

  it('refuses WebPs whose extended header claims a 16M x 16M or a 20000x20000 canvas (the image inside disagrees)', async () => {
    expectError(await post(webpWithCanvas(webp, 1 << 24, 1 << 24), 'image/webp'), 400, 'IMAGE_UNDECODABLE');
    expectError(await post(webpWithCanvas(webp, 20_000, 20_000), 'application/octet-stream'), 400, 'IMAGE_UNDECODABLE');
  });

  it('refuses images of 16383x1 and 1x16383 (16 kP) whose upscale to 256 would be 4194048x256: 413, not 3.4 GB', async () => {
    for (const [w, h] of [
      [16_383, 1],
      [1, 16_383],
    ] as const) {
      expectError(await post(pngBomb(w, h), 'image/png'), 413, 'IMAGE_TOO_MANY_PIXELS');
      expectError(await post(jpegWithFrameSize(goodJpeg, w, h), 'image/jpeg'), 413, 'IMAGE_TOO_MANY_PIXELS');
    }
  });

  it('refuses a JPEG whose frame header claims 0x0 with 400 IMAGE_UNDECODABLE', async () => {
    expectError(await post(jpegWithFrameSize(goodJpeg, 0, 0), 'image/jpeg'), 400, 'IMAGE_UNDECODABLE');
  });

  it('decodes only the first frame of a GIF with 20,000 frames: the same answer as its first frame alone', async () => {
    const many = manyFrameGif(320, 240, 20_000);
    const response = await post(many, 'image/gif');
    expect(response.statusCode).toBe(200);
    const first = manyFrameGif(320, 240, 1);
    expectSamePredictions(
      response.json<PredictBody>().results[0]?.predictions ?? [],
      await expectedPredictions(app, first, 5),
    );
  });

  it('refuses bombs inside multipart and base64 JSON the same way', async () => {
    const body = multipartBody([{ field: 'image', filename: 'bomb.png', data: pngBomb(50_000, 50_000) }]);
    expectError(await app.inject({ method: 'POST', url: '/predict', ...body }), 413, 'IMAGE_TOO_MANY_PIXELS');
    const json = JSON.stringify({ images: [jpegWithFrameSize(goodJpeg, 65_000, 65_000).toString('base64')] });
    expectError(await post(json, 'application/json'), 413, 'IMAGE_TOO_MANY_PIXELS');
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('formats that are never decoded', { timeout: 10_000 }, () => {
  it.each([
    ['an SVG that references a local file', SVG],
    ['an SVG with a UTF-8 byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), SVG])],
    ['a PDF', PDF],
    ['an HTML page', HTML],
    ['a BMP', Buffer.concat([Buffer.from('BM', 'latin1'), Buffer.alloc(60)])],
  ])('refuses %s sent as application/octet-stream with 415 UNSUPPORTED_IMAGE_FORMAT', async (_name, bytes) => {
    expectError(await post(bytes, 'application/octet-stream'), 415, 'UNSUPPORTED_IMAGE_FORMAT');
  });

  it('refuses an SVG sent as image/png: the bytes decide, not the declared type', async () => {
    expectError(await post(SVG, 'image/png'), 415, 'UNSUPPORTED_IMAGE_FORMAT');
  });

  it('refuses a PDF that embeds a JPEG (the file starts as a PDF)', async () => {
    expectError(
      await post(Buffer.concat([PDF, goodJpeg]), 'application/octet-stream'),
      415,
      'UNSUPPORTED_IMAGE_FORMAT',
    );
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});

describe('polyglots', { timeout: 10_000 }, () => {
  it.each([
    ['a PDF trailer', PDF],
    ['an HTML trailer', HTML],
  ])(
    'classifies a JPEG with %s exactly as the plain JPEG, as JSON the browser will not sniff',
    async (_name, trailer) => {
      const response = await post(Buffer.concat([goodJpeg, trailer]), 'image/jpeg');
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.body).not.toContain('<script');
      expectSamePredictions(
        response.json<PredictBody>().results[0]?.predictions ?? [],
        await expectedPredictions(app, goodJpeg, 5),
      );
    },
  );

  it('treats a GIF/JavaScript polyglot as a GIF, and never returns its script', async () => {
    const polyglot = gifJsPolyglot();
    expect(polyglot.toString('latin1', 0, 6)).toBe('GIF89a');
    const response = await post(polyglot, 'image/gif');
    expect(response.statusCode).toBe(200);
    expect(response.body).not.toContain('alert');
    expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('does not echo a hostile multipart file name into anything but a JSON string', async () => {
    const name = '<img src=x onerror=alert(1)>.gif';
    const body = multipartBody([{ field: 'image', filename: name, data: gifJsPolyglot() }]);
    const response = await app.inject({ method: 'POST', url: '/predict', ...body });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.json<PredictBody>().results[0]?.name).toBe(name);
  });

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});
