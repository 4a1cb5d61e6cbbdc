// POST /predict through app.inject on the tiny model: every body kind, topk, and every error path
// with its status and stable code.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNTRAINED_WARNING } from '../../src/server/routes/schemas.ts';
import { RAW_IMAGE_TYPES } from '../../src/server/routes/predict-bodies.ts';
import { expectError, expectSamePredictions, expectedPredictions, fixture, multipart, startApp } from './helpers.ts';

const jpeg = fixture('landscape-500x375.jpg');
const png = fixture('tiny-120x90.png');
const webp = fixture('lossy-400x300.webp');
const gif = fixture('still-320x240.gif');

interface PredictBody {
  model: string;
  weights: string;
  warning?: string;
  results: { name: string; predictions: { index: number; label: string; score: number }[] }[];
}

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ MAX_IMAGES_PER_REQUEST: '4' });
});
afterAll(async () => {
  await app?.close();
});

const post = (url: string, payload: Buffer | string | object, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: payload as Buffer, headers });

describe('POST /predict body kinds', () => {
  it('classifies a raw JPEG body: one result named 0, the top 5 equal to the model asked directly', async () => {
    const response = await post('/predict', jpeg, { 'content-type': 'image/jpeg' });
    expect(response.statusCode).toBe(200);
    const body = response.json<PredictBody>();
    expect(body.model).toBe('resnet50');
    expect(body.results).toHaveLength(1);
    expect(body.results[0]!.name).toBe('0');
    expectSamePredictions(body.results[0]!.predictions, await expectedPredictions(app, jpeg, 5));
  });

  it('says on every response that the seeded weights give meaningless predictions', async () => {
    const body = (await post('/predict', png, { 'content-type': 'image/png' })).json<PredictBody>();
    expect(body.weights).toBe('seeded');
    expect(body.warning).toBe(UNTRAINED_WARNING);
  });

  it('accepts application/octet-stream and sniffs the format from the bytes', async () => {
    const response = await post('/predict?topk=3', webp, { 'content-type': 'application/octet-stream' });
    expect(response.statusCode).toBe(200);
    expectSamePredictions(
      response.json<PredictBody>().results[0]!.predictions,
      await expectedPredictions(app, webp, 3),
    );
  });

  it('classifies every multipart file part, named by filename, in request order', async () => {
    const body = multipart([
      { field: 'a', filename: 'photo.jpg', contentType: 'image/jpeg', data: jpeg },
      { field: 'b', filename: 'small.png', contentType: 'image/png', data: png },
      { field: 'a', filename: 'anim.gif', data: gif },
    ]);
    const response = await post('/predict?topk=2', body.payload, body.headers);
    expect(response.statusCode).toBe(200);
    const { results } = response.json<PredictBody>();
    expect(results.map((r) => r.name)).toEqual(['photo.jpg', 'small.png', 'anim.gif']);
    for (const [i, bytes] of [jpeg, png, gif].entries()) {
      expectSamePredictions(results[i]!.predictions, await expectedPredictions(app, bytes, 2));
    }
  });

  it('classifies JSON base64 images (plain and data: URL), named by index', async () => {
    const images = [png.toString('base64'), `data:image/jpeg;base64,${jpeg.toString('base64')}`];
    const response = await post('/predict', { images });
    expect(response.statusCode).toBe(200);
    const { results } = response.json<PredictBody>();
    expect(results.map((r) => r.name)).toEqual(['0', '1']);
    expectSamePredictions(results[0]!.predictions, await expectedPredictions(app, png, 5));
    expectSamePredictions(results[1]!.predictions, await expectedPredictions(app, jpeg, 5));
  });

  it('returns topk predictions with scores descending, up to the number of classes', async () => {
    const response = await post('/predict?topk=10', jpeg, { 'content-type': 'image/jpeg' });
    const { predictions } = response.json<PredictBody>().results[0]!;
    expect(predictions).toHaveLength(10);
    expect(new Set(predictions.map((p) => p.index)).size).toBe(10);
    for (let i = 1; i < predictions.length; i++)
      expect(predictions[i]!.score).toBeLessThanOrEqual(predictions[i - 1]!.score);
    expect(predictions.reduce((sum, p) => sum + p.score, 0)).toBeCloseTo(1, 5);
  });
});

describe('POST /predict errors', () => {
  it.each(['0', '11', 'abc', '2.5'])('refuses topk=%s with 400 INVALID_PARAMETER', async (topk) => {
    expectError(await post(`/predict?topk=${topk}`, jpeg, { 'content-type': 'image/jpeg' }), 400, 'INVALID_PARAMETER');
  });

  it.each(['text/plain', 'image/bmp', 'application/xml', 'image/svg+xml'])(
    'refuses Content-Type %s with 415 UNSUPPORTED_MEDIA_TYPE',
    async (type) => {
      expectError(await post('/predict', 'hello', { 'content-type': type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    },
  );

  it('refuses a body without Content-Type with 415', async () => {
    expectError(await app.inject({ method: 'POST', url: '/predict', payload: jpeg }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  const messageOf = (response: { json(): unknown }) =>
    (response.json() as { error: { message: string } }).error.message;

  it('says in a 415 for a content type which body kinds and image types are accepted', async () => {
    for (const response of [
      await post('/predict', 'hello', { 'content-type': 'text/plain' }),
      await app.inject({ method: 'POST', url: '/predict', payload: jpeg }),
    ]) {
      expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
      const message = messageOf(response);
      for (const accepted of [...RAW_IMAGE_TYPES, 'multipart/form-data', 'application/json'])
        expect(message).toContain(accepted);
    }
  });

  it('answers curl -d @cat.jpg (a form) with 415 and the fix: --data-binary with an image type, or -F', async () => {
    const response = await post('/predict', jpeg.toString('latin1'), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(messageOf(response)).toContain("--data-binary @cat.jpg -H 'Content-Type: image/jpeg'");
    expect(messageOf(response)).toContain('-F image=@cat.jpg');
  });

  it('names the format sent and the formats accepted in a 415 UNSUPPORTED_IMAGE_FORMAT', async () => {
    const response = await post('/predict', '%PDF-1.4\n', { 'content-type': 'application/octet-stream' });
    expectError(response, 415, 'UNSUPPORTED_IMAGE_FORMAT');
    expect(messageOf(response)).toBe('Image format pdf is not supported: send JPEG, PNG, WebP, GIF, AVIF or TIFF');
  });

  it('answers 400 NO_IMAGES for an empty raw body, an empty image list and a multipart body without files', async () => {
    expectError(await post('/predict', Buffer.alloc(0), { 'content-type': 'image/jpeg' }), 400, 'NO_IMAGES');
    expectError(await post('/predict', { images: [] }), 400, 'NO_IMAGES');
    const empty = multipart([]);
    expectError(await post('/predict', empty.payload, empty.headers), 400, 'NO_IMAGES');
    expectError(await app.inject({ method: 'POST', url: '/predict' }), 400, 'NO_IMAGES');
  });

  it('answers 400 INVALID_JSON for JSON that does not parse', async () => {
    expectError(await post('/predict', '{"images": [', { 'content-type': 'application/json' }), 400, 'INVALID_JSON');
  });

  it.each([{ image: 'x' }, { images: [1] }, { images: 'abc' }, { images: [], extra: true }, [], null])(
    'answers 400 INVALID_PARAMETER for JSON %j',
    async (body) => {
      expectError(
        await post('/predict', JSON.stringify(body), { 'content-type': 'application/json' }),
        400,
        'INVALID_PARAMETER',
      );
    },
  );

  it('answers 400 INVALID_BASE64 for an image that is not base64', async () => {
    const response = await post('/predict', { images: [png.toString('base64'), 'not base64!'] });
    expectError(response, 400, 'INVALID_BASE64');
    expect(response.json<{ error: { message: string } }>().error.message).toContain('1');
  });

  it('refuses a long almost-base64 string at once (the check does not backtrack)', async () => {
    expectError(await post('/predict', { images: [`${'Ab+_'.repeat(2000)}!`] }), 400, 'INVALID_BASE64');
  });

  it('decodes URL-safe base64 like standard base64', async () => {
    const urlSafe = png.toString('base64url');
    expect(urlSafe).toMatch(/[-_]/);
    const response = await post('/predict?topk=2', { images: [urlSafe] });
    expect(response.statusCode).toBe(200);
    expectSamePredictions(response.json<PredictBody>().results[0]!.predictions, await expectedPredictions(app, png, 2));
  });

  it('answers 400 INVALID_PARAMETER for a multipart field where files are expected', async () => {
    const body = multipart([
      { field: 'note', data: 'hello' },
      { field: 'image', filename: 'a.png', data: png },
    ]);
    expectError(await post('/predict', body.payload, body.headers), 400, 'INVALID_PARAMETER');
  });

  it('answers 400 MALFORMED_BODY for a multipart body cut short', async () => {
    const body = multipart([{ field: 'image', filename: 'a.jpg', data: jpeg }]);
    expectError(await post('/predict', body.payload.subarray(0, 2000), body.headers), 400, 'MALFORMED_BODY');
  });

  it('answers 400 IMAGE_UNDECODABLE for a truncated JPEG, also when other images of the request are fine', async () => {
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    expectError(await post('/predict', truncated, { 'content-type': 'image/jpeg' }), 400, 'IMAGE_UNDECODABLE');
    expectError(
      await post('/predict', { images: [png.toString('base64'), truncated.toString('base64')] }),
      400,
      'IMAGE_UNDECODABLE',
    );
  });

  it('answers 415 UNSUPPORTED_IMAGE_FORMAT for bytes that are no accepted image format (SVG, random)', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>';
    expectError(
      await post('/predict', svg, { 'content-type': 'application/octet-stream' }),
      415,
      'UNSUPPORTED_IMAGE_FORMAT',
    );
    expectError(
      await post('/predict', Buffer.alloc(64, 7), { 'content-type': 'image/png' }),
      415,
      'UNSUPPORTED_IMAGE_FORMAT',
    );
  });

  it('answers 413 TOO_MANY_IMAGES past MAX_IMAGES_PER_REQUEST (4) for multipart and JSON', async () => {
    const parts = Array.from({ length: 5 }, (_, i) => ({ field: 'image', filename: `${i}.png`, data: png }));
    const body = multipart(parts);
    expectError(await post('/predict', body.payload, body.headers), 413, 'TOO_MANY_IMAGES');
    expectError(await post('/predict', { images: Array(5).fill(png.toString('base64')) }), 413, 'TOO_MANY_IMAGES');
  });

  it('answers a URL that does not decode with 400 INVALID_PARAMETER', async () => {
    expectError(
      await app.inject({ method: 'POST', url: '/predict%', payload: png, headers: { 'content-type': 'image/png' } }),
      400,
      'INVALID_PARAMETER',
    );
  });

  it('answers another method on a known path with 405 METHOD_NOT_ALLOWED and the Allow header', async () => {
    for (const [method, url, allow] of [
      ['GET', '/predict', 'POST'],
      ['PUT', '/predict?topk=3', 'POST'],
      ['GET', '/predict/', 'POST'],
      ['POST', '/metrics', 'GET, HEAD'],
      ['DELETE', '/', 'GET, HEAD'],
    ] as const) {
      const response = await app.inject({ method, url });
      expectError(response, 405, 'METHOD_NOT_ALLOWED');
      expect(response.headers['allow'], `${method} ${url}`).toBe(allow);
    }
    const get = await app.inject({ method: 'GET', url: '/predict' });
    expect(get.json<{ error: { message: string } }>().error.message).toBe('GET is not allowed on /predict; use POST');
  });

  it('answers unknown routes with 404 NOT_FOUND, whatever the method', async () => {
    expectError(await app.inject({ method: 'GET', url: '/nowhere' }), 404, 'NOT_FOUND');
    expectError(await app.inject({ method: 'POST', url: '/predict/more' }), 404, 'NOT_FOUND');
  });

  it('refuses a malformed request timeout with 400 INVALID_PARAMETER', async () => {
    expectError(
      await post('/predict', png, { 'content-type': 'image/png', 'x-request-timeout-ms': 'soon' }),
      400,
      'INVALID_PARAMETER',
    );
    expectError(await post('/predict?timeout_ms=0', png, { 'content-type': 'image/png' }), 400, 'INVALID_PARAMETER');
  });
});

describe('POST /predict size limits', () => {
  let small: FastifyInstance;
  beforeAll(async () => {
    small = await startApp({ MAX_IMAGE_BYTES: '20000', MAX_BODY_BYTES: '60000', MAX_IMAGE_PIXELS: '3000' });
  });
  afterAll(async () => {
    await small?.close();
  });
  const postSmall = (payload: Buffer | object, headers: Record<string, string> = {}) =>
    small.inject({ method: 'POST', url: '/predict', payload: payload as Buffer, headers });

  it('answers 413 IMAGE_TOO_LARGE for an image over MAX_IMAGE_BYTES as raw body, multipart file and base64', async () => {
    expect(jpeg.length).toBeGreaterThan(20000);
    expectError(await postSmall(jpeg, { 'content-type': 'image/jpeg' }), 413, 'IMAGE_TOO_LARGE');
    const body = multipart([{ field: 'image', filename: 'big.jpg', data: jpeg }]);
    expectError(await postSmall(body.payload, body.headers), 413, 'IMAGE_TOO_LARGE');
    expectError(await postSmall({ images: [jpeg.toString('base64')] }), 413, 'IMAGE_TOO_LARGE');
  });

  it('answers 413 BODY_TOO_LARGE for a body over MAX_BODY_BYTES', async () => {
    const padding = 'A'.repeat(70000);
    expectError(await postSmall({ images: [padding] }), 413, 'BODY_TOO_LARGE');
  });

  it('answers 413 IMAGE_TOO_MANY_PIXELS for an image over MAX_IMAGE_PIXELS', async () => {
    const tiny = fixture('tiny-64x48.jpg');
    expect(tiny.length).toBeLessThan(20000);
    expectError(await postSmall(tiny, { 'content-type': 'image/jpeg' }), 413, 'IMAGE_TOO_MANY_PIXELS');
  });
});
