// The load script's bodies, posted to the real service (buildApp on the tiny model): every kind
// the script can send is one the service accepts, with one result per image.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BODY_KINDS, buildRequest, type BodyKind } from '../../load/lib/bodies.ts';
import { loadImage } from '../../load/lib/image.ts';
import { tensorFor } from '../../load/lib/tensor.ts';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';

let app: FastifyInstance;
const image = await loadImage(undefined);
const tensor = await tensorFor(image.bytes);

beforeAll(async () => {
  app = await buildApp(
    loadConfig({ MODEL_PATH: inject('tinyModelPath'), MODEL_NAME: 'tiny', LOG_LEVEL: 'silent', MAX_BATCH_SIZE: '4' }),
  );
  await app.ready();
  while ((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode !== 200)
    await new Promise((resolve) => setTimeout(resolve, 20));
});
afterAll(() => app.close());

describe('load bodies against the real service', () => {
  const cases: [BodyKind, number][] = BODY_KINDS.flatMap((kind): [BodyKind, number][] =>
    kind === 'raw'
      ? [[kind, 1]]
      : [
          [kind, 1],
          [kind, 3],
        ],
  );
  it.each(cases)('%s with %i image(s) is answered 200 with a result per image', async (kind, imagesPerRequest) => {
    const req = buildRequest(kind, {
      image: image.bytes,
      imageName: image.name,
      imagesPerRequest,
      modelName: 'tiny',
      tensor,
      topk: 3,
    });
    const res = await app.inject({ method: req.method, url: req.path, headers: req.headers, payload: req.body });
    expect(res.statusCode, res.body).toBe(200);
    if (kind === 'v2-binary') {
      const body = res.json<{ outputs: { name: string; shape: number[]; data: string[] }[] }>();
      expect(body.outputs[0]?.name).toBe('probabilities');
      expect(body.outputs[0]?.shape).toEqual([imagesPerRequest, 3]);
    } else {
      const body = res.json<{ results: { predictions: unknown[] }[] }>();
      expect(body.results).toHaveLength(imagesPerRequest);
      expect(body.results.every((r) => r.predictions.length === 3)).toBe(true);
    }
  });
});
