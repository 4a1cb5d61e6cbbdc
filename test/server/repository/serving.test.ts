// A model repository served at start (MODEL_CONTROL_MODE=none): the index with each model's and
// version's state and reason, each version policy, /predict and V2 routed by name and version to
// the right engine, the default model, metrics labelled by model and version, and broken models
// (a corrupt file, a manifest that does not match the graph, a bad config.json, no versions)
// that are UNAVAILABLE with their reason while the others serve.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Prediction } from '../../../src/model/runtime/postprocess.ts';
import { expectError, expectSamePredictions, expectedPredictions, fixture, jsonLog } from '../helpers.ts';
import { float32Le, floatsOf, inferRequest, parseInferResponse, tensor } from '../v2-client.ts';
import { manifestOf, makeRepository, removeRepository, startRepositoryApp } from './fixture-repository.ts';

const jpeg = fixture('landscape-500x375.jpg');
const { lines: logLines, stream: logStream } = jsonLog();

// The manifest of the ResNet-18 with five labels: the graph gives ten values per image.
const fiveLabels = JSON.stringify({
  ...manifestOf('tiny18'),
  labels: ['a', 'b', 'c', 'd', 'e'],
  outputs: [
    { name: 'logits', datatype: 'FP32', shape: [-1, 5] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 5] },
  ],
});

let root: string;
let app: FastifyInstance;
beforeAll(async () => {
  root = makeRepository({
    resnet50: { config: { version_policy: { all: {} } }, versions: { '1': 'tiny50', '2': 'tiny50' } },
    resnet18: { versions: { '1': 'tiny50', '2': 'tiny18' } },
    pinned: {
      config: { version_policy: { specific: { versions: [1, 3, 4] } } },
      versions: { '1': 'tiny18', '2': 'tiny18', '3': 'tiny18' },
    },
    corrupt: { versions: { '1': { onnx: Buffer.from('not an onnx file at all'), manifest: 'tiny50' } } },
    mismatch: { versions: { '1': { onnx: 'tiny18', manifest: fiveLabels } } },
    unreadable: { versions: { '1': { onnx: 'tiny18', manifest: '{"format": ' } } },
    misconfigured: { config: { max_batch_sise: 4 }, versions: { '1': 'tiny18' } },
    empty: { versions: {} },
  });
  app = await startRepositoryApp(root, { LOG_LEVEL: 'info' }, { logStream });
});
afterAll(async () => {
  await app?.close();
  removeRepository(root);
});

interface PredictBody {
  model: string;
  version: string;
  results: { predictions: Prediction[] }[];
}

const predict = (query: string) =>
  app.inject({ method: 'POST', url: `/predict${query}`, payload: jpeg, headers: { 'content-type': 'image/jpeg' } });

describe('the repository index', () => {
  it('lists every model and version with its state, and the reason of each one that is unavailable', async () => {
    const response = await app.inject({ method: 'POST', url: '/v2/repository/index' });
    expect(response.statusCode).toBe(200);
    const rows = response.json<{ name: string; version?: string; state: string; reason: string }[]>();
    const ready = (name: string, version: string) => ({ name, version, state: 'READY', reason: '' });
    expect(rows).toEqual([
      { name: 'corrupt', version: '1', state: 'UNAVAILABLE', reason: expect.stringContaining('corrupt/1/model.onnx') },
      { name: 'empty', state: 'UNAVAILABLE', reason: 'empty holds no version folder (empty/1/model.onnx)' },
      { name: 'misconfigured', state: 'UNAVAILABLE', reason: expect.stringContaining('unknown key "max_batch_sise"') },
      {
        name: 'mismatch',
        version: '1',
        state: 'UNAVAILABLE',
        reason: expect.stringMatching(/gives 10 values per image in `logits`, but its manifest lists 5 labels/),
      },
      ready('pinned', '1'),
      ready('pinned', '3'),
      {
        name: 'pinned',
        version: '4',
        state: 'UNAVAILABLE',
        reason: 'version_policy names version 4, but there is no folder pinned/4',
      },
      ready('resnet18', '2'),
      ready('resnet50', '1'),
      ready('resnet50', '2'),
      { name: 'unreadable', version: '1', state: 'UNAVAILABLE', reason: expect.stringContaining('is not valid JSON') },
    ]);
    // Reasons name files as the repository does, never by an absolute path.
    expect(JSON.stringify(rows)).not.toContain(root);
  });

  it('lists only READY versions with {"ready": true}, and takes the empty body tritonclient sends', async () => {
    const ready = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } });
    expect(ready.json<{ state: string }[]>().map((row) => row.state)).toEqual(Array(5).fill('READY'));
    const empty = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: '' });
    expect(empty.json<unknown[]>()).toHaveLength(11);
  });

  it('logs each model that could not be loaded with its reason', () => {
    const failed = logLines.filter((line) => String(line['msg']).includes('could not be'));
    for (const model of ['corrupt', 'mismatch', 'unreadable', 'misconfigured'])
      expect(failed.some((line) => line['model'] === model || String(line['model']).startsWith(`${model}/`))).toBe(
        true,
      );
  });

  it('is ready: the broken models never served, so they do not hold back the server', async () => {
    expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
  });
});

describe('POST /predict by model and version', () => {
  it('answers 400 MODEL_REQUIRED naming the models when several are served and none is the default', async () => {
    const response = await predict('');
    expectError(response, 400, 'MODEL_REQUIRED');
    expect(response.json<{ error: { message: string } }>().error.message).toContain('pinned, resnet18, resnet50');
  });

  it('classifies with the model named: each answer is that model’s own', async () => {
    const resnet18 = await predict('?model=resnet18&topk=3');
    expect(resnet18.json<PredictBody>()).toMatchObject({ model: 'resnet18', version: '2' });
    const want18 = await expectedPredictions(app, jpeg, 3, 'resnet18');
    expectSamePredictions(resnet18.json<PredictBody>().results[0]!.predictions, want18);
    const resnet50 = await predict('?model=resnet50&topk=3');
    expect(resnet50.json<PredictBody>()).toMatchObject({ model: 'resnet50', version: '2' });
    const want50 = await expectedPredictions(app, jpeg, 3, 'resnet50');
    expectSamePredictions(resnet50.json<PredictBody>().results[0]!.predictions, want50);
    // Different weights: the two models do not agree (else the test could not tell them apart).
    expect(want18.map((p) => p.score)).not.toEqual(want50.map((p) => p.score));
  });

  it('uses the version asked for, else the highest one served', async () => {
    for (const version of ['1', '2'])
      expect((await predict(`?model=resnet50&version=${version}`)).json<PredictBody>().version).toBe(version);
    expect((await predict('?model=pinned')).json<PredictBody>().version).toBe('3');
    expect((await predict('?model=pinned&version=1')).json<PredictBody>().version).toBe('1');
  });

  it.each([
    ['?model=nothing', 404, 'MODEL_NOT_FOUND'],
    ['?model=resnet50&version=7', 404, 'MODEL_NOT_FOUND'],
    ['?model=resnet50&version=01', 404, 'MODEL_NOT_FOUND'],
    ['?model=resnet18&version=1', 404, 'MODEL_NOT_FOUND'],
    ['?model=pinned&version=2', 404, 'MODEL_NOT_FOUND'],
    ['?model=pinned&version=4', 503, 'MODEL_UNAVAILABLE'],
    ['?model=corrupt', 503, 'MODEL_UNAVAILABLE'],
    ['?model=mismatch', 503, 'MODEL_UNAVAILABLE'],
    ['?model=empty', 503, 'MODEL_UNAVAILABLE'],
    ['?model=resnet50&model=resnet18', 400, 'INVALID_PARAMETER'],
    ['?model=resnet18&topk=11', 400, 'INVALID_PARAMETER'],
  ])('answers %s with %i %s', async (query, status, code) => {
    expectError(await predict(query), status, code);
  });
});

describe('V2 by model and version', () => {
  const infer = (url: string) => {
    const { payload, headers } = inferRequest({}, [
      { json: { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }, bytes: float32Le(tensor(1, 7)) },
    ]);
    return app.inject({ method: 'POST', url, payload, headers });
  };

  it('lists the versions served in the model metadata', async () => {
    expect((await app.inject({ method: 'GET', url: '/v2/models/resnet50' })).json()).toMatchObject({
      name: 'resnet50',
      versions: ['1', '2'],
    });
    expect((await app.inject({ method: 'GET', url: '/v2/models/pinned/versions/1' })).json()).toMatchObject({
      name: 'pinned',
      versions: ['1', '3'],
    });
  });

  it('infers with the model and version of the URL, and says which in the response', async () => {
    const data = tensor(1, 7);
    for (const [url, name, version] of [
      ['/v2/models/resnet18/infer', 'resnet18', '2'],
      ['/v2/models/resnet50/versions/1/infer', 'resnet50', '1'],
      ['/v2/models/resnet50/infer', 'resnet50', '2'],
    ] as const) {
      const response = await infer(url);
      expect(response.statusCode, response.body).toBe(200);
      const body = parseInferResponse(response);
      expect(body).toMatchObject({ model_name: name, model_version: version });
      const own = await app.registry.resolve(name, version).engine!.infer(data.slice());
      const logits = floatsOf(body.outputs.find((o) => o.name === 'logits')!);
      own.logits.forEach((value, i) => expect(logits[i]).toBeCloseTo(value, 4));
    }
  });

  it('answers readiness per model and version', async () => {
    for (const url of ['/v2/models/resnet18/ready', '/v2/models/resnet50/versions/1/ready', '/v2/models/pinned/ready'])
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    for (const url of ['/v2/models/corrupt/ready', '/v2/models/pinned/versions/4/ready']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(503);
      expect(response.headers['x-error-code']).toBe('MODEL_UNAVAILABLE');
    }
    const unknown = await app.inject({ method: 'GET', url: '/v2/models/resnet50/versions/9/ready' });
    expect(unknown.statusCode).toBe(404);
  });

  it('refuses inference on an unavailable model with 503 before reading the body', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/mismatch/infer',
      payload: 'not even JSON',
    });
    expect(response.statusCode).toBe(503);
    expect(response.headers['x-error-code']).toBe('MODEL_UNAVAILABLE');
  });
});

describe('metrics labelled by model and version', () => {
  it('keeps one series per model version, and marks the unavailable ones not ready', async () => {
    await predict('?model=resnet18');
    await predict('?model=resnet50&version=1');
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const sample = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(sample('resnet_images_classified_total{model="resnet18",version="2",api="predict"}')).toBeGreaterThan(0);
    expect(sample('resnet_images_classified_total{model="resnet50",version="1",api="predict"}')).toBeGreaterThan(0);
    expect(sample('resnet_batch_size_count{model="resnet18",version="2"}')).toBeGreaterThan(0);
    expect(sample('resnet_ready{model="resnet50",version="2"}')).toBe(1);
    expect(sample('resnet_ready{model="corrupt",version="1"}')).toBe(0);
    expect(sample('resnet_ready{model="pinned",version="4"}')).toBe(0);
    expect(sample('resnet_model_info{model="resnet18",version="2",weights="seeded",classes="10"}')).toBe(1);
    expect(text).not.toMatch(/^resnet_queue_depth \d/m);
  });
});

describe('the default model', () => {
  let single: FastifyInstance;
  let pair: FastifyInstance;
  let repo: string;
  let soloRepo: string;
  beforeAll(async () => {
    repo = makeRepository({
      resnet50: { versions: { '1': 'tiny50' } },
      resnet18: { versions: { '1': 'tiny18' } },
      broken: { versions: { '1': { onnx: Buffer.from('junk'), manifest: 'tiny50' } } },
    });
    pair = await startRepositoryApp(repo, { DEFAULT_MODEL: 'resnet18' });
    soloRepo = makeRepository({
      resnet18: { versions: { '1': 'tiny18' } },
      broken: { versions: { '1': { onnx: Buffer.from('junk'), manifest: 'tiny50' } } },
    });
    single = await startRepositoryApp(soloRepo);
  });
  afterAll(async () => {
    await Promise.all([pair?.close(), single?.close()]);
    removeRepository(repo);
    removeRepository(soloRepo);
  });

  it('is DEFAULT_MODEL when set', async () => {
    const response = await pair.inject({
      method: 'POST',
      url: '/predict',
      payload: jpeg,
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(response.json<PredictBody>().model).toBe('resnet18');
  });

  it('is the only model served, when the others could not load', async () => {
    const response = await single.inject({
      method: 'POST',
      url: '/predict',
      payload: jpeg,
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<PredictBody>().model).toBe('resnet18');
    const labels = (await expectedPredictions(single, jpeg, 5)).map((p) => p.label);
    expect(response.json<PredictBody>().results[0]!.predictions.map((p) => p.label)).toEqual(labels);
  });
});

describe('FP32 and int8 of the same weights side by side', () => {
  let pair: FastifyInstance;
  let repo: string;
  beforeAll(async () => {
    repo = makeRepository({
      resnet50: { versions: { '1': 'tiny50' } },
      'resnet50-int8': { versions: { '1': 'tiny50-int8' } },
    });
    pair = await startRepositoryApp(repo);
  });
  afterAll(async () => {
    await pair?.close();
    removeRepository(repo);
  });

  it('reports each precision in the metadata, and classifies with each model’s own engine', async () => {
    for (const [name, precision] of [
      ['resnet50', 'fp32'],
      ['resnet50-int8', 'int8'],
    ] as const) {
      expect((await pair.inject({ method: 'GET', url: `/v2/models/${name}` })).json()).toMatchObject({
        name,
        precision,
      });
      const response = await pair.inject({
        method: 'POST',
        url: `/predict?model=${name}&topk=3`,
        payload: jpeg,
        headers: { 'content-type': 'image/jpeg' },
      });
      expectSamePredictions(
        response.json<PredictBody>().results[0]!.predictions,
        await expectedPredictions(pair, jpeg, 3, name),
      );
    }
  });
});
