// The single model of MODEL_PATH, served as a registry of one (version 1): its name comes from its
// manifest unless MODEL_NAME overrides it, so a ResNet-18 is served as what it is.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { manifestOf } from './repository/fixture-repository.ts';
import { TEST_ENV, fixture } from './helpers.ts';

const png = fixture('tiny-120x90.png');
const { MODEL_NAME: _override, ...env } = TEST_ENV;

describe('the served name of the single model', () => {
  let named: FastifyInstance;
  let renamed: FastifyInstance;
  const manifestName = String(manifestOf('tiny18')['name']);
  beforeAll(async () => {
    named = await buildApp(loadConfig({ ...env, MODEL_PATH: inject('tinyResnet18Path') }));
    renamed = await buildApp(loadConfig({ ...env, MODEL_PATH: inject('tinyResnet18Path'), MODEL_NAME: 'cheap' }));
    await Promise.all([named.registry.whenStarted(), renamed.registry.whenStarted()]);
  });
  afterAll(async () => {
    await Promise.all([named?.close(), renamed?.close()]);
  });

  it("is the manifest's name without MODEL_NAME (a ResNet-18 build is not served as resnet50)", async () => {
    expect(manifestName).toMatch(/^resnet18/);
    const response = await named.inject({
      method: 'POST',
      url: '/predict',
      payload: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(response.json()).toMatchObject({ model: manifestName, version: '1' });
    expect((await named.inject({ method: 'GET', url: `/v2/models/${manifestName}/ready` })).statusCode).toBe(200);
    expect((await named.inject({ method: 'GET', url: '/v2/models/resnet50/ready' })).statusCode).toBe(404);
  });

  it('is MODEL_NAME when set, for /predict, V2, the index and the metrics', async () => {
    const response = await renamed.inject({
      method: 'POST',
      url: '/predict?model=cheap',
      payload: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(response.json()).toMatchObject({ model: 'cheap', version: '1' });
    expect((await renamed.inject({ method: 'GET', url: `/v2/models/${manifestName}` })).statusCode).toBe(404);
    expect((await renamed.inject({ method: 'POST', url: '/v2/repository/index' })).json()).toEqual([
      { name: 'cheap', version: '1', state: 'READY', reason: '' },
    ]);
    expect((await renamed.inject({ method: 'GET', url: '/metrics' })).body).toMatch(
      /^resnet_ready\{model="cheap",version="1"\} 1$/m,
    );
  });
});
