import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CliUsageError, DEFAULT_OUT, main, parseCliArgs } from '../../src/model/cli.ts';
import { DEFAULT_BUILD_OPTIONS } from '../../src/model/options.ts';

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

describe('build-model CLI arguments', () => {
  it('defaults every flag', () => {
    expect(parseCliArgs([])).toEqual({ options: { ...DEFAULT_BUILD_OPTIONS }, out: DEFAULT_OUT, help: false });
  });

  it('reads every flag', () => {
    const { options, out } = parseCliArgs([
      '--depth',
      '18',
      '--variant',
      'v1',
      '--shortcut',
      'C',
      '--width',
      '0.5',
      '--classes',
      '7',
      '--seed',
      '42',
      '--no-fold',
      '--weights',
      'w.safetensors',
      '--out',
      'm/x.onnx',
      '--name',
      'my-net',
    ]);
    expect(options).toEqual({
      depth: 18,
      variant: 'v1',
      shortcut: 'C',
      width: 0.5,
      classes: 7,
      seed: 42,
      foldBatchNorm: false,
      weightsFile: 'w.safetensors',
      name: 'my-net',
      precision: 'fp32',
    });
    expect(out).toBe('m/x.onnx');
  });

  it.each([
    [['--depth', '51'], /--depth to be one of 18, 34, 50, 101, 152, got `51`/],
    [['--depth'], /argument missing/],
    [['--width', 'wide'], /--width expects a number, got `wide`/],
    [['--width', '0'], /--width to be a number in \(0, 16\]/],
    [['--classes', '2.5'], /--classes to be an integer/],
    [['--classes', ''], /--classes expects a number/],
    [['--seed=-1'], /--seed to be an integer in \[0, 4294967295\]/],
    [['--variant', 'v2'], /--variant to be one of v1, v1.5, got `v2`/],
    [['--shortcut', 'D'], /--shortcut to be one of A, B, C/],
    [['--out', 'model.pt'], /--out must end in .onnx/],
    [['--name', 'has space'], /--name to be 1-64 letters/],
    [['--precision', 'int4'], /--precision to be one of fp32, int8, got `int4`/],
    [['--calibration', 'photos'], /--calibration only with precision int8/],
    [['--precision', 'int8', '--no-fold'], /--no-fold with precision int8/],
    [['--precision', 'int8', '--calibration-count', '0'], /--calibration-count to be an integer in \[1, 100000\]/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /Unexpected argument 'extra'/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(CliUsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });
});

describe('build-model CLI runs', () => {
  const out = fileURLToPath(new URL('../.tmp/cli/tiny.onnx', import.meta.url));

  it('exits 2 and prints the usage on a bad flag', async () => {
    const io = { out: capture(), err: capture() };
    expect(await main(['--shortcut', 'Z'], { out: io.out.stream, err: io.err.stream })).toBe(2);
    expect(io.err.text()).toMatch(/--shortcut to be one of A, B, C[\s\S]*Usage: npm run build:model/);
    expect(io.out.text()).toBe('');
  });

  it('builds, writes model and manifest, and prints parameters, size, sha256 and the seeded warning', async () => {
    const io = { out: capture(), err: capture() };
    expect(
      await main(['--width', '0.125', '--classes', '10', '--seed', '3', '--out', out], {
        out: io.out.stream,
        err: io.err.stream,
      }),
    ).toBe(0);
    const manifest = JSON.parse(await readFile(out.replace(/\.onnx$/, '.json'), 'utf8')) as {
      modelSha256: string;
      parameters: number;
    };
    const printed = io.out.text();
    expect(printed).toContain(`parameters:     ${manifest.parameters.toLocaleString('en-US')}`);
    expect(printed).toContain(`sha256:         ${manifest.modelSha256}`);
    expect(printed).toMatch(/\(\d+\.\d MiB, \d+ bytes\)/);
    expect(printed).toMatch(/SEEDED, UNTRAINED WEIGHTS \(seed 3\)[\s\S]*MEANINGLESS/);
    expect(io.err.text()).toContain('graph: 16/16 blocks');
  });

  it('builds int8 with --precision int8, printing the calibration and the note about real images', async () => {
    const io = { out: capture(), err: capture() };
    const argv = [
      '--precision',
      'int8',
      '--calibration-count',
      '4',
      '--width',
      '0.125',
      '--classes',
      '10',
      '--out',
      out,
    ];
    expect(await main(argv, { out: io.out.stream, err: io.err.stream })).toBe(0);
    const manifest = JSON.parse(await readFile(out.replace(/\.onnx$/, '.json'), 'utf8')) as {
      precision: string;
      calibration: { count: number; sha256: string };
    };
    expect(manifest.precision).toBe('int8');
    expect(manifest.calibration.count).toBe(4);
    const printed = io.out.text();
    expect(printed).toContain(
      `minmax over 4 images from the built-in set (models/calibration), set sha256 ${manifest.calibration.sha256}`,
    );
    expect(printed).toMatch(/stored weights [\d,]+ int8 \+ [\d,]+ float32/);
    expect(printed).toMatch(/Trained weights want a sample of real images[\s\S]*--calibration DIR/);
    expect(io.err.text()).toContain('calibrate...');
  });

  it('exits 1 naming the directory when the calibration images cannot be read', async () => {
    const io = { out: capture(), err: capture() };
    const argv = ['--precision', 'int8', '--calibration', '/nonexistent/photos', '--width', '0.125', '--out', out];
    expect(await main(argv, { out: io.out.stream, err: io.err.stream })).toBe(1);
    expect(io.err.text()).toMatch(/build-model: Cannot read the calibration directory \/nonexistent\/photos: ENOENT/);
  });

  it('exits 1 with the reason when the weights file cannot be read', async () => {
    const io = { out: capture(), err: capture() };
    expect(
      await main(['--weights', '/nonexistent/w.safetensors', '--width', '0.125', '--out', out], {
        out: io.out.stream,
        err: io.err.stream,
      }),
    ).toBe(1);
    expect(io.err.text()).toMatch(/build-model: ENOENT/);
  });

  it('sets a non-zero exit code when run as a program', () => {
    const cli = fileURLToPath(new URL('../../src/model/cli.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', cli, '--depth', '7'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Expected --depth to be one of');
  });
});
