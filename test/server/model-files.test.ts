// MODEL_WEIGHTS: a .safetensors file is built into ONNX at start, cached by its sha256 and the
// build options, and served as trained weights. Uses the model helper's small torchvision-named
// ResNet-50 fixture (width 0.125, 10 classes).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { manifestPathFor, type ModelManifest } from '../../src/model/manifest.ts';
import { BUILT_IN_CALIBRATION_DIR } from '../../src/model/quantize/calibration-images.ts';
import { loadConfig } from '../../src/server/config.ts';
import { prepareModel } from '../../src/server/model-files.ts';
import { fixture, startApp } from './helpers.ts';

const weights = fileURLToPath(new URL('../fixtures/resnet/resnet50-w0.125.safetensors', import.meta.url));
const cacheDir = mkdtempSync(join(tmpdir(), 'model-cache-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

function recorder() {
  const messages: string[] = [];
  return { messages, log: { info: (_obj: object, msg: string) => messages.push(msg) } };
}

const tinyArch = { MODEL_DEPTH: '50', MODEL_WIDTH: '0.125', MODEL_CLASSES: '10', MODEL_CACHE_DIR: cacheDir };

describe('prepareModel with MODEL_WEIGHTS', () => {
  it('builds the weights into the cache once, then reuses the cached build', async () => {
    const config = loadConfig({ ...tinyArch, MODEL_WEIGHTS: weights });
    const first = recorder();
    const built = await prepareModel(config, first.log);
    expect(dirname(built.modelPath)).toBe(cacheDir);
    expect(built.modelPath).toMatch(/resnet50-w0\.125-[0-9a-f]{16}\.onnx$/);
    expect(first.messages).toContain('building model');
    expect(first.messages).toContain('model built');
    const manifest = JSON.parse(readFileSync(manifestPathFor(built.modelPath), 'utf8')) as ModelManifest;
    expect(manifest.weights).toMatchObject({ kind: 'safetensors', trained: true });
    expect(manifest.architecture).toMatchObject({ depth: 50, width: 0.125, classes: 10 });
    const modified = statSync(built.modelPath).mtimeMs;

    const second = recorder();
    const again = await prepareModel(config, second.log);
    expect(again.modelPath).toBe(built.modelPath);
    expect(second.messages).toEqual(['using the cached build of MODEL_WEIGHTS']);
    expect(statSync(built.modelPath).mtimeMs).toBe(modified);

    const app = await startApp({ MODEL_PATH: built.modelPath });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/predict',
        payload: fixture('tiny-120x90.png'),
        headers: { 'content-type': 'image/png' },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ weights: 'trained' });
      expect(response.json()).not.toHaveProperty('warning');
    } finally {
      await app.close();
    }
  });

  it('builds MODEL_PRECISION=int8 into its own cache entry, keyed by the calibration images', async () => {
    const builtIn = await prepareModel(
      loadConfig({ ...tinyArch, MODEL_WEIGHTS: weights, MODEL_PRECISION: 'int8' }),
      recorder().log,
    );
    expect(builtIn.modelPath).toMatch(/resnet50-w0\.125-int8-[0-9a-f]{16}\.onnx$/);
    const manifest = JSON.parse(readFileSync(manifestPathFor(builtIn.modelPath), 'utf8')) as ModelManifest;
    expect(manifest).toMatchObject({ precision: 'int8', calibration: { source: 'built-in', method: 'minmax' } });
    expect(manifest.weights).toMatchObject({ kind: 'safetensors', trained: true });

    const photos = mkdtempSync(join(tmpdir(), 'calibration-'));
    for (const name of ['coffee.jpg', 'rocket.jpg'])
      copyFileSync(join(BUILT_IN_CALIBRATION_DIR, name), join(photos, name));
    const config = loadConfig({
      ...tinyArch,
      MODEL_WEIGHTS: weights,
      MODEL_PRECISION: 'int8',
      MODEL_CALIBRATION: photos,
    });
    const own = await prepareModel(config, recorder().log);
    expect(own.modelPath).not.toBe(builtIn.modelPath);
    const calibration = (JSON.parse(readFileSync(manifestPathFor(own.modelPath), 'utf8')) as ModelManifest).calibration;
    expect(calibration).toMatchObject({ source: 'directory', count: 2 });
    const again = recorder();
    expect((await prepareModel(config, again.log)).modelPath).toBe(own.modelPath);
    expect(again.messages).toEqual(['using the cached build of MODEL_WEIGHTS']);
    rmSync(photos, { recursive: true, force: true });
  });

  it('refuses to start when MODEL_CALIBRATION holds no images, naming the directory', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'calibration-'));
    const config = loadConfig({
      ...tinyArch,
      MODEL_WEIGHTS: weights,
      MODEL_PRECISION: 'int8',
      MODEL_CALIBRATION: empty,
    });
    await expect(prepareModel(config, recorder().log)).rejects.toThrow(
      `calibration directory ${empty} holds no image files`,
    );
  });

  it('fails naming the tensors when MODEL_DEPTH does not match the weights', async () => {
    const config = loadConfig({ ...tinyArch, MODEL_DEPTH: '18', MODEL_WEIGHTS: weights });
    await expect(prepareModel(config, recorder().log)).rejects.toThrow(/unexpected[\s\S]*layer1\.0\.conv3\.weight/);
  });

  it('fails clearly when MODEL_WEIGHTS does not exist', async () => {
    const config = loadConfig({ ...tinyArch, MODEL_WEIGHTS: join(cacheDir, 'missing.safetensors') });
    await expect(prepareModel(config, recorder().log)).rejects.toThrow('MODEL_WEIGHTS file');
  });

  it('leaves an existing MODEL_PATH alone and refuses a missing one that is not the default', async () => {
    const existing = loadConfig({ MODEL_PATH: inject('tinyModelPath') });
    expect(await prepareModel(existing, recorder().log)).toBe(existing);
    await expect(prepareModel(loadConfig({ MODEL_PATH: join(cacheDir, 'nope.onnx') }), recorder().log)).rejects.toThrow(
      'does not exist',
    );
  });
});
