// Models loaded, switched and unloaded while the server serves: explicit load and unload through
// the V2 repository API (the requests tritonclient sends), and poll mode picking up new versions,
// models and removals. Requests keep flowing through every switch, and none fails: a new version
// takes traffic only once warm, and the one it replaces drains its queue first.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { expectError, fixture, jsonLog } from '../helpers.ts';
import {
  addVersion,
  makeRepository,
  removeRepository,
  removeVersion,
  startRepositoryApp,
  writeModel,
} from './fixture-repository.ts';

const png = fixture('tiny-120x90.png');

interface Row {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

async function index(app: FastifyInstance): Promise<Row[]> {
  return (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json<Row[]>();
}

function predict(app: FastifyInstance, query: string) {
  return app.inject({
    method: 'POST',
    url: `/predict${query}`,
    payload: png,
    headers: { 'content-type': 'image/png' },
  });
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Clients sending requests back to back until stopped; every answer's status and version. */
function traffic(app: FastifyInstance, query: string, clients = 3) {
  const answers: { status: number; version?: string; code?: string; startedAt: number; endedAt: number }[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const startedAt = performance.now();
      const response = await predict(app, query);
      const body = response.json<{ version?: string; error?: { code: string } }>();
      answers.push({
        startedAt,
        endedAt: performance.now(),
        status: response.statusCode,
        ...(body.version === undefined ? {} : { version: body.version }),
        ...(body.error === undefined ? {} : { code: body.error.code }),
      });
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

const versionsOf = (rows: readonly Row[], name: string) =>
  rows.filter((row) => row.name === name && row.state === 'READY').map((row) => row.version);

describe('explicit mode: load and unload through the repository API', () => {
  let root: string;
  let app: FastifyInstance;
  const control = (name: string, action: 'load' | 'unload', payload: unknown = {}) =>
    app.inject({
      method: 'POST',
      url: `/v2/repository/models/${encodeURIComponent(name)}/${action}`,
      payload: JSON.stringify(payload),
    });
  beforeAll(async () => {
    root = makeRepository({ resnet18: { versions: { '1': 'tiny18' } } });
    app = await startRepositoryApp(root, { MODEL_CONTROL_MODE: 'explicit' });
  });
  afterAll(async () => {
    await app?.close();
    removeRepository(root);
  });

  it('loads a model copied into the repository after start: 200 with an empty body, then it serves', async () => {
    writeModel(root, 'resnet50', { versions: { '1': 'tiny50' } });
    expectError(await predict(app, '?model=resnet50'), 404, 'MODEL_NOT_FOUND');
    const response = await control('resnet50', 'load');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.body).toBe('');
    expect(versionsOf(await index(app), 'resnet50')).toEqual(['1']);
    expect((await predict(app, '?model=resnet50')).json()).toMatchObject({ model: 'resnet50', version: '1' });
  });

  it('ignores parameters it does not know (tritonclient sends unload_dependents)', async () => {
    expect((await control('resnet50', 'load', { parameters: { priority: 1 } })).statusCode).toBe(200);
  });

  it('unloads a model: it drains, then stays in the index as unloaded; the server stays ready', async () => {
    const response = await control('resnet18', 'unload', { parameters: { unload_dependents: false } });
    expect(response.statusCode, response.body).toBe(200);
    expect((await index(app)).find((row) => row.name === 'resnet18')).toEqual({
      name: 'resnet18',
      state: 'UNAVAILABLE',
      reason: 'unloaded',
    });
    expectError(await predict(app, '?model=resnet18'), 503, 'MODEL_UNAVAILABLE');
    expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).not.toContain('model="resnet18"');
    expect((await control('resnet18', 'load')).statusCode).toBe(200);
    expect((await predict(app, '?model=resnet18')).statusCode).toBe(200);
  });

  it('switches to a new version on load while requests flow, and none of them fails', async () => {
    const flow = traffic(app, '?model=resnet50');
    await until(() => flow.answers.length >= 3, 'the first answers');
    addVersion(root, 'resnet50', 2, 'tiny18');
    expect((await control('resnet50', 'load')).statusCode).toBe(200);
    await until(() => flow.answers.slice(-3).every((a) => a.version === '2'), 'answers from version 2');
    const answers = await flow.stop();
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    // Once a request got version 2, every request sent after it gets version 2: never back.
    const switched = Math.min(...answers.filter((a) => a.version === '2').map((a) => a.endedAt));
    expect(answers.some((a) => a.version === '1')).toBe(true);
    expect(answers.filter((a) => a.startedAt > switched && a.version !== '2')).toEqual([]);
    await until(
      async () => (await index(app)).every((row) => row.name !== 'resnet50' || row.version === '2'),
      'v1 gone',
    );
  });

  it('answers 400 MODEL_LOAD_FAILED with the reason when no version of the model loads', async () => {
    writeModel(root, 'broken', { versions: { '1': { onnx: Buffer.from('junk'), manifest: 'tiny50' } } });
    const response = await control('broken', 'load');
    expect(response.statusCode).toBe(400);
    expect(response.headers['x-error-code']).toBe('MODEL_LOAD_FAILED');
    expect(response.json<{ error: string }>().error).toContain('broken/1/model.onnx');
    expect((await index(app)).find((row) => row.name === 'broken')).toMatchObject({ state: 'UNAVAILABLE' });
    expect((await predict(app, '?model=resnet18')).statusCode).toBe(200);
  });

  it('answers 404 MODEL_NOT_FOUND for a name that is not a folder of the repository', async () => {
    for (const action of ['load', 'unload'] as const) {
      const response = await control('nothing', action);
      expect(response.statusCode).toBe(404);
      expect(response.headers['x-error-code']).toBe('MODEL_NOT_FOUND');
    }
  });

  it('refuses load parameters that would name files or replace the config, as Triton accepts them', async () => {
    for (const parameters of [
      { config: '{"max_batch_size": 8}' },
      { 'file:1/model.onnx': Buffer.from('x').toString('base64') },
      { 'FILE:../../etc/passwd': 'eA==' },
    ]) {
      const response = await control('resnet50', 'load', { parameters });
      expect(response.statusCode).toBe(400);
      expect(response.headers['x-error-code']).toBe('PARAMETER_NOT_ALLOWED');
    }
  });
});

describe('load and unload outside explicit mode', () => {
  let root: string;
  const apps: FastifyInstance[] = [];
  beforeAll(() => {
    root = makeRepository({ resnet18: { versions: { '1': 'tiny18' } } });
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(() => removeRepository(root));

  it.each(['none', 'poll'])(
    'answers 403 MODEL_CONTROL_DISABLED in %s mode, and the index still works',
    async (mode) => {
      const app = await startRepositoryApp(root, { MODEL_CONTROL_MODE: mode, REPOSITORY_POLL_SECONDS: '60' });
      apps.push(app);
      for (const action of ['load', 'unload']) {
        const response = await app.inject({ method: 'POST', url: `/v2/repository/models/resnet18/${action}` });
        expect(response.statusCode).toBe(403);
        expect(response.headers['x-error-code']).toBe('MODEL_CONTROL_DISABLED');
      }
      expect(versionsOf(await index(app), 'resnet18')).toEqual(['1']);
    },
  );
});

describe('poll mode', () => {
  let root: string;
  let app: FastifyInstance;
  const log = jsonLog();
  beforeAll(async () => {
    root = makeRepository({
      resnet50: { versions: { '1': 'tiny50' } },
      // Batches of this model wait 400 ms for company: its requests sit in the queue.
      slow: {
        config: { max_batch_delay_ms: 400, version_policy: { all: {} } },
        versions: { '1': 'tiny18', '2': 'tiny18' },
      },
    });
    app = await startRepositoryApp(
      root,
      { MODEL_CONTROL_MODE: 'poll', REPOSITORY_POLL_SECONDS: '0.2', LOG_LEVEL: 'info' },
      { logStream: log.stream },
    );
  });
  afterAll(async () => {
    await app?.close();
    removeRepository(root);
  });

  it('picks up a new version, switches to it and retires the old one with requests in flight, none failing', async () => {
    const flow = traffic(app, '?model=resnet50');
    await until(() => flow.answers.length >= 3, 'the first answers');
    addVersion(root, 'resnet50', 2, 'tiny18');
    await until(() => flow.answers.slice(-3).every((a) => a.version === '2'), 'answers from version 2');
    await until(async () => versionsOf(await index(app), 'resnet50').join() === '2', 'version 1 out of service');
    const answers = await flow.stop();
    // UNLOADING in the index while it drains, then gone with its series
    await until(
      async () => (await index(app)).every((row) => row.name !== 'resnet50' || row.version !== '1'),
      'version 1 stopped',
    );
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers.some((a) => a.version === '1')).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).not.toContain('model="resnet50",version="1"');
  });

  it('retires a removed version after the requests queued on it are answered', async () => {
    // Queued for 400 ms; the folder goes away meanwhile.
    const queued = [predict(app, '?model=slow&version=2'), predict(app, '?model=slow&version=2')];
    await until(() => (app.registry.resolve('slow', '2').engine?.queueDepth ?? 0) === 2, 'two queued images');
    removeVersion(root, 'slow', 2);
    await until(async () => versionsOf(await index(app), 'slow').join() === '1', 'version 2 retired');
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
    expectError(await predict(app, '?model=slow&version=2'), 404, 'MODEL_NOT_FOUND');
    expect((await predict(app, '?model=slow')).json()).toMatchObject({ version: '1' });
  });

  it('keeps the serving version when a new one cannot load, and tries it again once its files change', async () => {
    addVersion(root, 'resnet50', 3, { onnx: Buffer.from('half a model'), manifest: 'tiny50' });
    await until(
      async () => (await index(app)).some((row) => row.version === '3' && row.state === 'UNAVAILABLE'),
      'version 3 UNAVAILABLE',
    );
    expect(versionsOf(await index(app), 'resnet50')).toEqual(['2']);
    expect((await predict(app, '?model=resnet50')).json()).toMatchObject({ version: '2' });
    removeVersion(root, 'resnet50', 3);
    addVersion(root, 'resnet50', 3, 'tiny50');
    await until(async () => versionsOf(await index(app), 'resnet50').join() === '3', 'version 3 serving');
  });

  it('keeps serving a version whose files were replaced by broken ones, and does not retry them every poll', async () => {
    const loads = () =>
      log.lines.filter((l) => l['msg'] === 'loading model version' && l['model'] === 'resnet50' && l['version'] === 3)
        .length;
    const before = loads();
    writeFileSync(join(root, 'resnet50', '3', 'model.onnx'), Buffer.from('overwritten with junk'));
    await until(() => loads() === before + 1, 'the reload attempt');
    await until(
      () =>
        log.lines.some((l) => l['msg'] === 'the model could not be loaded' && l['model'] === 'resnet50/3/model.onnx'),
      'the failed reload',
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // five more polls
    expect(loads()).toBe(before + 1);
    expect(versionsOf(await index(app), 'resnet50')).toEqual(['3']);
    expect((await predict(app, '?model=resnet50')).json()).toMatchObject({ version: '3' });
  });

  it('loads a new model folder and forgets a removed one', async () => {
    writeModel(root, 'resnet18', { versions: { '1': 'tiny18' } });
    await until(async () => versionsOf(await index(app), 'resnet18').join() === '1', 'resnet18 serving');
    rmSync(join(root, 'resnet18'), { recursive: true });
    await until(async () => (await index(app)).every((row) => row.name !== 'resnet18'), 'resnet18 gone');
    expectError(await predict(app, '?model=resnet18'), 404, 'MODEL_NOT_FOUND');
    expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
  });
});
