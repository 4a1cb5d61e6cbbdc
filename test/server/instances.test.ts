// MODEL_INSTANCES through the whole service: two sessions of the model on two worker threads, one
// admission limit and one queue, answering as a single instance does.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Prediction } from '../../src/model/runtime/postprocess.ts';
import { expectSamePredictions, expectedPredictions, fixture, jsonLog, startApp } from './helpers.ts';

const images = ['landscape-500x375.jpg', 'tiny-120x90.png', 'cmyk-320x240.jpg'].map(fixture);

describe('MODEL_INSTANCES=2', () => {
  let app: FastifyInstance;
  const log = jsonLog();
  beforeAll(async () => {
    app = await startApp({ MODEL_INSTANCES: '2', MAX_BATCH_SIZE: '2', LOG_LEVEL: 'info' }, { logStream: log.stream });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('starts one warm worker per instance', () => {
    const ready = log.lines.filter((line) => line['msg'] === 'inference worker ready');
    expect(ready.map((line) => line['instance']).sort()).toEqual([0, 1]);
  });

  it('answers concurrent uploads as the model does image by image, with room for a batch per instance', async () => {
    const expected: Prediction[][] = [];
    for (const image of images) expected.push(await expectedPredictions(app, image, 5));
    const uploads = Array.from({ length: 12 }, (_, i) => i % images.length);
    const responses = await Promise.all(
      uploads.map((i) =>
        app.inject({
          method: 'POST',
          url: '/predict',
          payload: images[i],
          headers: { 'content-type': i === 1 ? 'image/png' : 'image/jpeg' },
        }),
      ),
    );
    responses.forEach((response, n) => {
      expect(response.statusCode).toBe(200);
      expectSamePredictions(
        (response.json() as { results: { predictions: Prediction[] }[] }).results[0]?.predictions ?? [],
        expected[uploads[n] as number] as Prediction[],
      );
    });
    const classifier = app.registry.resolve(undefined);
    expect(classifier.admission.limit).toBe(app.config.maxQueue + 2 * 2);
  });
});
