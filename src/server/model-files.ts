// Which .onnx file the service runs, made ready before the engine starts:
// - MODEL_WEIGHTS (a .safetensors file) is built into ONNX once (architecture from MODEL_DEPTH,
//   MODEL_VARIANT, MODEL_WIDTH, MODEL_CLASSES; MODEL_PRECISION, and for int8 the MODEL_CALIBRATION
//   images) and cached in MODEL_CACHE_DIR, keyed by the weights' sha256, the build options, the
//   calibration set's sha256 and the builder version;
// - otherwise MODEL_PATH; the default path is built with seeded weights on first start (so
//   `npm start` works on a fresh clone), any other missing path is an error.
// Slow builds log their progress.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { BUILDER_VERSION, DEFAULT_BUILD_OPTIONS, buildModel, writeModel, type BuildOptions } from '../model/build.ts';
import { manifestPathFor } from '../model/manifest.ts';
import { calibrationDigest } from '../model/quantize/calibration-images.ts';
import { DEFAULT_MODEL_PATH, type Config } from './config.ts';

export interface ProgressLogger {
  info(obj: object, msg: string): void;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Logs each build step when it starts and every 25% of it after that. */
function progressLogger(log: ProgressLogger): (step: string, done: number, total: number) => void {
  let lastStep = '';
  let lastQuarter = -1;
  return (step, done, total) => {
    const quarter = total > 0 ? Math.floor((4 * done) / total) : 4;
    if (step === lastStep && quarter === lastQuarter) return;
    lastStep = step;
    lastQuarter = quarter;
    log.info({ step, done, total, percent: total > 0 ? Math.round((100 * done) / total) : 100 }, 'building model');
  };
}

async function build(options: Partial<BuildOptions>, out: string, log: ProgressLogger): Promise<void> {
  const started = Date.now();
  const built = await buildModel(options, { onProgress: progressLogger(log) });
  await mkdir(join(out, '..'), { recursive: true });
  await writeModel(out, built);
  const { weights } = built.manifest;
  log.info(
    {
      out,
      parameters: built.stats.parameters,
      seconds: (Date.now() - started) / 1000,
      weights: weights.trained ? 'trained' : 'seeded',
      precision: built.manifest.precision,
      // The built-in set is a few sample photos; trained weights want images of their own domain.
      ...(built.manifest.calibration && { calibration: built.manifest.calibration.source }),
    },
    'model built',
  );
}

/** The cached ONNX path for a weights file: models/cache/<name>[-int8]-<key>.onnx. */
export async function cachedModelPath(config: Config, options: Partial<BuildOptions>): Promise<string> {
  const weightsFile = config.modelWeights as string;
  const calibration =
    options.precision === 'int8'
      ? await calibrationDigest(config.modelCalibration, options.calibrationCount)
      : undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ weights: await sha256File(weightsFile), options, calibration, builder: BUILDER_VERSION }))
    .digest('hex')
    .slice(0, 16);
  const stem = basename(weightsFile)
    .replace(/\.safetensors$/i, '')
    .replace(/[^\w.-]/g, '_');
  const precision = options.precision === 'int8' ? '-int8' : '';
  return join(config.modelCacheDir, `${stem}${precision}-${key}.onnx`);
}

/** Returns the config with MODEL_PATH pointing at a model file (and its manifest) that exists. */
export async function prepareModel(config: Config, log: ProgressLogger): Promise<Config> {
  if (config.modelWeights !== undefined) {
    if (!(await exists(config.modelWeights)))
      throw new Error(`MODEL_WEIGHTS file ${config.modelWeights} does not exist`);
    const options: Partial<BuildOptions> = {
      ...DEFAULT_BUILD_OPTIONS,
      depth: config.modelDepth,
      variant: config.modelVariant,
      width: config.modelWidth,
      classes: config.modelClasses,
      weightsFile: config.modelWeights,
      name: config.modelName,
      precision: config.modelPrecision,
      calibrationDir: config.modelCalibration,
    };
    // The key holds the calibration set's sha256, not its directory: the same images anywhere hit the cache.
    const modelPath = await cachedModelPath(config, { ...options, weightsFile: undefined, calibrationDir: undefined });
    if (await exists(manifestPathFor(modelPath))) log.info({ modelPath }, 'using the cached build of MODEL_WEIGHTS');
    else {
      log.info({ weights: config.modelWeights, modelPath }, 'building MODEL_WEIGHTS into ONNX (once; cached)');
      await build(options, modelPath, log);
    }
    return Object.freeze({ ...config, modelPath });
  }
  if (await exists(config.modelPath)) return config;
  if (resolve(config.modelPath) !== DEFAULT_MODEL_PATH) {
    throw new Error(
      `MODEL_PATH ${config.modelPath} does not exist; build it with \`npm run build:model -- --out ${config.modelPath}\``,
    );
  }
  log.info(
    { modelPath: config.modelPath },
    'no model yet: building the default ResNet-50 with SEEDED, UNTRAINED weights (predictions will be meaningless)',
  );
  await build({ ...DEFAULT_BUILD_OPTIONS, name: config.modelName }, config.modelPath, log);
  return config;
}
