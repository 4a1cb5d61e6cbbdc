// build-model: `npm run build:model -- --depth 50 --variant v1.5 --shortcut B --width 1
// --classes 1000 --weights FILE.safetensors --seed N --no-fold --out models/resnet50.onnx --name NAME
// --precision fp32|int8 --calibration DIR --calibration-count N`
// Every flag is optional. Exit codes: 0 built, 1 the build failed, 2 bad flags.
import { stat } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModel, writeModel, type BuiltModel } from './build.ts';
import type { CalibrationRecord } from './manifest.ts';
import { DEFAULT_BUILD_OPTIONS, ModelOptionsError, resolveBuildOptions, type BuildOptions } from './options.ts';
import { DEFAULT_CALIBRATION_COUNT } from './quantize/calibration-images.ts';

export const DEFAULT_OUT = 'models/resnet50.onnx';

const USAGE = `Usage: npm run build:model -- [options]
  --depth N         18, 34, 50, 101 or 152 (default ${DEFAULT_BUILD_OPTIONS.depth})
  --variant V       v1.5 (stride on the 3x3, torchvision/timm) or v1 (stride on the first 1x1) (default ${DEFAULT_BUILD_OPTIONS.variant})
  --shortcut S      A (zero-pad), B (projection where shapes change) or C (projection always) (default ${DEFAULT_BUILD_OPTIONS.shortcut})
  --width X         channel multiplier, e.g. 0.125 for a tiny test model (default ${DEFAULT_BUILD_OPTIONS.width})
  --classes N       output classes; 1000 uses the ImageNet labels (default ${DEFAULT_BUILD_OPTIONS.classes})
  --weights FILE    .safetensors with torchvision/timm or Hugging Face ResNet names (default: seeded, untrained)
  --seed N          seed for the untrained initialisation (default ${DEFAULT_BUILD_OPTIONS.seed})
  --no-fold         keep BatchNormalization nodes instead of folding them into the convs
  --out PATH        output .onnx path; the manifest goes next to it as .json (default ${DEFAULT_OUT})
  --name NAME       model name in the manifest (default derived from the options, e.g. resnet50)
  --precision P     fp32, or int8: QDQ with uint8 activations and int8 weights (default fp32)
  --calibration DIR int8: calibrate on the images in DIR (default: the built-in set, models/calibration)
  --calibration-count N
                    int8: calibrate on the first N images by name (default: all, up to ${DEFAULT_CALIBRATION_COUNT})
  --help            show this help`;

export class CliUsageError extends Error {
  readonly code = 'CLI_USAGE';
}

const FLAGS = {
  depth: { type: 'string' },
  variant: { type: 'string' },
  shortcut: { type: 'string' },
  width: { type: 'string' },
  classes: { type: 'string' },
  weights: { type: 'string' },
  seed: { type: 'string' },
  'no-fold': { type: 'boolean' },
  out: { type: 'string' },
  name: { type: 'string' },
  precision: { type: 'string' },
  calibration: { type: 'string' },
  'calibration-count': { type: 'string' },
  help: { type: 'boolean' },
} as const;

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new CliUsageError(`--${flag} expects a number, got \`${text}\``);
  return value;
}

/** Flags -> validated build options and output path; throws CliUsageError with a readable message. */
export function parseCliArgs(argv: readonly string[]): { options: BuildOptions; out: string; help: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  if (values.out !== undefined && !/\.onnx$/i.test(values.out))
    throw new CliUsageError(`--out must end in .onnx, got \`${values.out}\``);
  try {
    const options = resolveBuildOptions({
      depth: number('depth', values.depth) as BuildOptions['depth'] | undefined,
      variant: values.variant as BuildOptions['variant'] | undefined,
      shortcut: values.shortcut as BuildOptions['shortcut'] | undefined,
      width: number('width', values.width),
      classes: number('classes', values.classes),
      seed: number('seed', values.seed),
      foldBatchNorm: !values['no-fold'],
      weightsFile: values.weights,
      name: values.name,
      precision: values.precision as BuildOptions['precision'] | undefined,
      calibrationDir: values.calibration,
      calibrationCount: number('calibration-count', values['calibration-count']),
    });
    return { options, out: values.out ?? DEFAULT_OUT, help: values.help ?? false };
  } catch (err) {
    if (err instanceof ModelOptionsError)
      throw new CliUsageError(err.message.replace(/`(\w+)`/, (_, flag: string) => `--${kebab(flag)}`));
    throw err;
  }
}

const kebab = (flag: string): string =>
  ({ foldBatchNorm: 'no-fold', weightsFile: 'weights', calibrationCount: 'calibration-count' })[flag] ?? flag;

function describe(o: BuildOptions): string {
  const precision = o.precision === 'fp32' ? '' : `, ${o.precision}`;
  return `ResNet-${o.depth} ${o.variant}, shortcut ${o.shortcut}, width ${o.width}, ${o.classes} classes, BatchNorm ${o.foldBatchNorm ? 'folded' : 'kept'}${precision}`;
}

export interface CliIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

export async function main(
  argv: readonly string[],
  io: CliIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  let parsed;
  try {
    parsed = parseCliArgs(argv);
  } catch (err) {
    if (!(err instanceof CliUsageError)) throw err;
    io.err.write(`build-model: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    io.out.write(`${USAGE}\n`);
    return 0;
  }
  const { options, out } = parsed;
  const started = performance.now();
  io.out.write(`Building ${describe(options)} from ${options.weightsFile ?? `seed ${options.seed}`}\n`);
  try {
    const built = await buildModel(options, { onProgress: progressPrinter(io.err) });
    const { modelPath, manifestPath } = await writeModel(out, built);
    const size = (await stat(modelPath)).size;
    io.out.write(
      [
        `Wrote ${modelPath} (${(size / 2 ** 20).toFixed(1)} MiB, ${size} bytes) and ${manifestPath}`,
        `  parameters:     ${built.stats.parameters.toLocaleString('en-US')} (stored weights ${storedWeights(built.stats)})`,
        `  sha256:         ${built.manifest.modelSha256}`,
        ...calibrationLines(built.manifest.calibration),
        `  build time:     ${((performance.now() - started) / 1000).toFixed(1)} s`,
        '',
      ].join('\n'),
    );
    if (!built.manifest.weights.trained) io.out.write(seededWarning(options.seed));
    if (built.manifest.calibration?.source === 'built-in') io.out.write(BUILT_IN_CALIBRATION_NOTE);
    return 0;
  } catch (err) {
    io.err.write(`build-model: ${(err as Error).message}\n`);
    return 1;
  }
}

function storedWeights(stats: BuiltModel['stats']): string {
  const floats = stats.storedWeights.toLocaleString('en-US');
  return stats.storedInt8 === 0 ? floats : `${stats.storedInt8.toLocaleString('en-US')} int8 + ${floats} float32`;
}

function calibrationLines(c: CalibrationRecord | undefined): string[] {
  if (c === undefined) return [];
  const from = c.source === 'built-in' ? 'the built-in set (models/calibration)' : 'the --calibration directory';
  return [`  calibration:    ${c.method} over ${c.count} images from ${from}, set sha256 ${c.sha256}`];
}

const BUILT_IN_CALIBRATION_NOTE = `Calibrated on the built-in set of sample photos. Trained weights want a sample of real images from
their own domain (a few dozen to a few hundred): --calibration DIR.
`;

function seededWarning(seed: number): string {
  const line = '!'.repeat(78);
  return `${line}\n!! SEEDED, UNTRAINED WEIGHTS (seed ${seed}): this model runs, but its predictions are\n!! MEANINGLESS. For real ImageNet classes build from trained weights:\n!!   npm run build:model -- --weights resnet50.safetensors   (see models/README.md)\n${line}\n`;
}

/** One line per step; the graph step reports every quarter of the blocks. */
function progressPrinter(stream: NodeJS.WritableStream): (step: string, done: number, total: number) => void {
  let lastQuarter = -1;
  return (step, done, total) => {
    if (step === 'graph') {
      const quarter = Math.floor((4 * done) / total);
      if (quarter === lastQuarter) return;
      lastQuarter = quarter;
    }
    if (step !== 'graph' && done !== 0) return;
    stream.write(step === 'graph' ? `  graph: ${done}/${total} blocks\n` : `  ${step}...\n`);
  };
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
