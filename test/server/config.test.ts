import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_VARIABLES,
  ConfigError,
  DEFAULT_MODEL_PATH,
  configHelp,
  flagFor,
  loadConfig,
} from '../../src/server/config.ts';
import { JPEG_DECODERS } from '../../src/preprocess/turbojpeg.ts';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function configError(env: Record<string, string>, argv: string[] = []): string {
  try {
    loadConfig(env, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted the configuration');
}

/** The start of a variable's row in a docs table: env var, flag, default. */
function documentedRow(spec: { env: string; fallback: unknown; source: string }): string {
  // A computed default is documented as its source says, without the pointer to where it was measured.
  const fallback =
    typeof spec.fallback === 'function' ? spec.source.replace(/ \(.*\)$/, '') : String(spec.fallback ?? 'unset');
  return `| \`${spec.env}\` | \`--${flagFor(spec.env)}\` | ${fallback} |`;
}

/** The env vars of every table row of that shape, in order. */
function documentedVariables(markdown: string): string[] {
  return [...markdown.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| `--[a-z0-9-]+` \|/gm)].map((m) => m[1] as string);
}

describe('loadConfig', () => {
  it('gives the documented defaults with an empty environment', () => {
    const config = loadConfig({}, []);
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      modelPath: join(PACKAGE_ROOT, 'models/resnet50.onnx'),
      modelCacheDir: join(PACKAGE_ROOT, 'models/cache'),
      logFormat: 'auto',
      modelName: undefined,
      modelWeights: undefined,
      modelRepository: undefined,
      modelControlMode: 'none',
      repositoryPollSeconds: 15,
      defaultModel: undefined,
      repositoryApiToken: undefined,
      executionProvider: 'cpu',
      modelInstances: 1,
      intraOpThreads: availableParallelism(),
      corsOrigin: undefined,
      logLevel: 'info',
    });
    expect(Object.keys(config).sort()).toEqual(Object.keys(CONFIG_VARIABLES).sort());
  });

  it('divides the cores among MODEL_INSTANCES unless INTRA_OP_THREADS is given', () => {
    const cores = availableParallelism();
    expect(loadConfig({ MODEL_INSTANCES: '2' })).toMatchObject({
      modelInstances: 2,
      intraOpThreads: Math.max(1, Math.floor(cores / 2)),
    });
    expect(loadConfig({ MODEL_INSTANCES: String(cores * 4) }).intraOpThreads).toBe(1);
    expect(loadConfig({ MODEL_INSTANCES: '2', INTRA_OP_THREADS: '3' }).intraOpThreads).toBe(3);
    expect(configError({ MODEL_INSTANCES: '0' })).toContain(
      'MODEL_INSTANCES="0" is invalid: expected an integer from 1 to 64',
    );
  });

  it('reads env vars and lets CLI flags (both --flag value and --flag=value) win over them', () => {
    const config = loadConfig({ MAX_BATCH_SIZE: '4', PORT: '9000', ORT_ALLOW_SPINNING: 'yes' }, [
      '--max-batch-size',
      '16',
      '--port=0',
    ]);
    expect(config.maxBatchSize).toBe(16);
    expect(config.port).toBe(0);
    expect(config.ortAllowSpinning).toBe(true);
  });

  it('resolves the default model and cache paths in the package folder, and keeps given paths as given (relative to the working directory)', () => {
    // The defaults hold wherever the service starts (node dist/server/main.js from another folder).
    expect(loadConfig({}).modelPath).toBe(DEFAULT_MODEL_PATH);
    expect(DEFAULT_MODEL_PATH).toBe(join(PACKAGE_ROOT, 'models/resnet50.onnx'));
    const given = loadConfig({ MODEL_PATH: 'my/model.onnx', MODEL_CACHE_DIR: 'cache' });
    expect(given.modelPath).toBe('my/model.onnx');
    expect(given.modelCacheDir).toBe('cache');
  });

  it('treats an empty env var as unset', () => {
    expect(loadConfig({ MAX_QUEUE: '' }).maxQueue).toBe(CONFIG_VARIABLES.maxQueue.fallback);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('names the variable, the value and what is allowed for every invalid value, all at once', () => {
    const message = configError({ MAX_BATCH_SIZE: '0', EXECUTION_PROVIDER: 'gpu', MAX_BATCH_DELAY_MS: 'soon' }, [
      '--port',
      '70000',
    ]);
    expect(message).toContain('--port="70000" is invalid: expected an integer from 0 to 65535');
    expect(message).toContain('EXECUTION_PROVIDER="gpu" is invalid: expected one of cpu, cuda, auto');
    expect(message).toContain('MAX_BATCH_SIZE="0" is invalid: expected an integer from 1 to 64');
    expect(message).toContain('MAX_BATCH_DELAY_MS="soon" is invalid: expected a number from 0 to 10000');
  });

  it.each([
    ['PORT', '8080.5'],
    ['PORT', '-1'],
    ['HOST', 'a b'],
    ['MODEL_NAME', 'res/net'],
    ['ORT_ALLOW_SPINNING', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['CORS_ORIGIN', 'https://example.com/path'],
    ['CORS_ORIGIN', 'ftp://example.com'],
    ['MAX_IMAGE_BYTES', '1e3'],
    ['SHARP_CONCURRENCY', '0'],
  ])('refuses %s=%s', (name, value) => {
    expect(configError({ [name]: value })).toContain(`${name}="${value}" is invalid`);
  });

  it("takes exactly the preprocessing's JPEG decoder settings", () => {
    for (const setting of JPEG_DECODERS) expect(loadConfig({ JPEG_DECODER: setting }).jpegDecoder).toBe(setting);
    expect(configError({ JPEG_DECODER: 'libvips' })).toContain(
      `JPEG_DECODER="libvips" is invalid: expected one of ${JPEG_DECODERS.join(', ')}`,
    );
  });

  it('accepts a CORS origin or *', () => {
    expect(loadConfig({ CORS_ORIGIN: 'https://example.com' }).corsOrigin).toBe('https://example.com');
    expect(loadConfig({ CORS_ORIGIN: '*' }).corsOrigin).toBe('*');
  });

  it('checks values against each other', () => {
    expect(configError({ REQUEST_TIMEOUT_MS: '5000', MAX_REQUEST_TIMEOUT_MS: '1000' })).toContain(
      'REQUEST_TIMEOUT_MS=5000 is invalid: expected at most MAX_REQUEST_TIMEOUT_MS (1000)',
    );
    expect(configError({ MAX_IMAGE_BYTES: '2000', MAX_BODY_BYTES: '1000' })).toContain(
      'MAX_IMAGE_BYTES=2000 is invalid',
    );
    expect(configError({ MODEL_PRECISION: 'int8' })).toMatch(/apply to builds of MODEL_WEIGHTS, which is not set/);
    expect(configError({ MODEL_WEIGHTS: 'w.safetensors', MODEL_CALIBRATION: 'photos' })).toContain(
      'MODEL_CALIBRATION is set, but MODEL_PRECISION is fp32',
    );
    expect(configError({ MODEL_PRECISION: 'int4' })).toContain('MODEL_PRECISION="int4" is invalid: expected one of');
    const int8 = loadConfig({ MODEL_WEIGHTS: 'w.safetensors', MODEL_PRECISION: 'int8', MODEL_CALIBRATION: 'photos' });
    expect([int8.modelPrecision, int8.modelCalibration]).toEqual(['int8', 'photos']);
  });

  it('refuses the single-model settings beside MODEL_REPOSITORY, and a control mode without one', () => {
    expect(configError({ MODEL_REPOSITORY: '/models', MODEL_PATH: 'm.onnx', MODEL_NAME: 'x' })).toContain(
      'MODEL_PATH, MODEL_NAME are invalid with MODEL_REPOSITORY',
    );
    expect(configError({ MODEL_REPOSITORY: '/models' }, ['--model-weights', 'w.safetensors'])).toContain(
      'MODEL_WEIGHTS is invalid with MODEL_REPOSITORY',
    );
    expect(configError({ MODEL_CONTROL_MODE: 'poll' })).toContain(
      'MODEL_CONTROL_MODE=poll is invalid: expected a MODEL_REPOSITORY to control',
    );
    expect(loadConfig({ MODEL_REPOSITORY: '/models', MODEL_CONTROL_MODE: 'explicit' })).toMatchObject({
      modelRepository: '/models',
      modelControlMode: 'explicit',
    });
  });

  it.each([
    ['MODEL_CONTROL_MODE', 'manual'],
    ['REPOSITORY_POLL_SECONDS', '0'],
    ['DEFAULT_MODEL', '../resnet50'],
    ['DEFAULT_MODEL', '.hidden'],
    ['MODEL_NAME', '..'],
    ['REPOSITORY_API_TOKEN', 'short'],
    ['REPOSITORY_API_TOKEN', 'sixteen chars with spaces'],
  ])('refuses %s=%s', (name, value) => {
    expect(configError({ [name]: value })).toContain(`${name}="${value}" is invalid`);
  });

  it('refuses unknown flags and positional arguments', () => {
    expect(configError({}, ['--max-batch', '4'])).toMatch(/Invalid command line: .*--max-batch/);
    expect(configError({}, ['serve'])).toMatch(/Invalid command line/);
  });

  it('has a flag for every variable, listed in the help text', () => {
    const help = configHelp();
    for (const spec of Object.values(CONFIG_VARIABLES)) {
      expect(help).toContain(`--${flagFor(spec.env)} (${spec.env})`);
    }
    expect(flagFor('MAX_BATCH_DELAY_MS')).toBe('max-batch-delay-ms');
  });

  it('is documented: docs/configuration.md lists every variable with its flag and default, and no other', () => {
    const table = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const spec of Object.values(CONFIG_VARIABLES)) expect(table).toContain(documentedRow(spec));
    expect(documentedVariables(table)).toEqual(Object.values(CONFIG_VARIABLES).map((spec) => spec.env));
  });

  it("is documented: the README's short table shows variables as docs/configuration.md does", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = documentedVariables(readme);
    expect(shown.length).toBeGreaterThanOrEqual(5);
    const byEnv = new Map(Object.values(CONFIG_VARIABLES).map((spec) => [spec.env, spec]));
    for (const env of shown) {
      const spec = byEnv.get(env);
      expect(spec, env).toBeDefined();
      expect(readme).toContain(documentedRow(spec!));
    }
  });
});
