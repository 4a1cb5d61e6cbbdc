// An int8 model served through MODEL_PATH as it is: the same routes, its precision in the V2 model
// metadata and on the upload page, predictions equal to the engine's own for the same image.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectedPredictions, expectSamePredictions, fixture, startApp } from './helpers.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ MODEL_PATH: inject('tinyInt8ModelPath') });
});
afterAll(async () => {
  await app?.close();
});

describe('serving an int8 model from MODEL_PATH', () => {
  it('reports precision int8 in the V2 model metadata and on the upload page', async () => {
    const metadata = await app.inject({ method: 'GET', url: '/v2/models/resnet50' });
    expect(metadata.json()).toMatchObject({ name: 'resnet50', precision: 'int8' });
    expect((await app.inject({ method: 'GET', url: '/' })).body).toContain('<span id="precision">int8</span>');
  });

  it('classifies an image through POST /predict like the engine does', async () => {
    const bytes = fixture('landscape-500x375.jpg');
    const headers = { 'content-type': 'image/jpeg' };
    const response = await app.inject({ method: 'POST', url: '/predict', payload: bytes, headers });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ results: { predictions: { index: number; label: string; score: number }[] }[] }>();
    expectSamePredictions(body.results[0]!.predictions, await expectedPredictions(app, bytes, 5));
  });
});
