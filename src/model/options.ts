// Build options: defaults and validation shared by buildModel and the CLI.
import { DEPTHS, type Depth } from './resnet.ts';
import type { Shortcut, Variant } from './blocks.ts';
import { PRECISIONS, type Precision } from './quantize/quantizer.ts';

export const VARIANTS = ['v1', 'v1.5'] as const satisfies readonly Variant[];
export const SHORTCUTS = ['A', 'B', 'C'] as const satisfies readonly Shortcut[];

export interface BuildOptions {
  depth: Depth;
  variant: Variant;
  shortcut: Shortcut;
  /** Channel multiplier (1 = the published widths). */
  width: number;
  classes: number;
  foldBatchNorm: boolean;
  /** Seed for the seeded initialisation; ignored when weightsFile is given. */
  seed: number;
  /** A .safetensors file with torchvision/timm or Hugging Face ResNet names. */
  weightsFile?: string | undefined;
  name?: string | undefined;
  /** fp32, or int8 (QDQ, calibrated on calibrationDir or the built-in set). */
  precision: Precision;
  /** int8 only: a directory of calibration images (default: the built-in set in models/calibration). */
  calibrationDir?: string | undefined;
  /** int8 only: calibrate on the first N images by name (default: all, up to 64). */
  calibrationCount?: number | undefined;
}

export const DEFAULT_BUILD_OPTIONS: Readonly<BuildOptions> = Object.freeze({
  depth: 50,
  variant: 'v1.5',
  shortcut: 'B',
  width: 1,
  classes: 1000,
  foldBatchNorm: true,
  seed: 0,
  precision: 'fp32',
});

export class ModelOptionsError extends Error {
  readonly code = 'MODEL_OPTIONS_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ModelOptionsError';
  }
}

const oneOf = (name: string, value: unknown, allowed: readonly unknown[]): void => {
  if (!allowed.includes(value))
    throw new ModelOptionsError(`Expected \`${name}\` to be one of ${allowed.join(', ')}, got \`${String(value)}\``);
};

/** Fills in defaults and checks every option (p-queue style messages). */
export function resolveBuildOptions(options: Partial<BuildOptions> = {}): BuildOptions {
  const o: BuildOptions = { ...DEFAULT_BUILD_OPTIONS, ...stripUndefined(options) };
  oneOf('depth', o.depth, DEPTHS);
  oneOf('variant', o.variant, VARIANTS);
  oneOf('shortcut', o.shortcut, SHORTCUTS);
  if (typeof o.width !== 'number' || !Number.isFinite(o.width) || o.width <= 0 || o.width > 16) {
    throw new ModelOptionsError(`Expected \`width\` to be a number in (0, 16], got \`${String(o.width)}\``);
  }
  if (!Number.isInteger(o.classes) || o.classes < 1 || o.classes > 100_000) {
    throw new ModelOptionsError(`Expected \`classes\` to be an integer in [1, 100000], got \`${String(o.classes)}\``);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) {
    throw new ModelOptionsError(`Expected \`seed\` to be an integer in [0, 4294967295], got \`${String(o.seed)}\``);
  }
  if (typeof o.foldBatchNorm !== 'boolean')
    throw new ModelOptionsError(`Expected \`foldBatchNorm\` to be a boolean, got \`${String(o.foldBatchNorm)}\``);
  checkPrecision(o);
  if (o.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.name)) {
    throw new ModelOptionsError(`Expected \`name\` to be 1-64 letters, digits, '.', '_' or '-', got \`${o.name}\``);
  }
  return o;
}

function checkPrecision(o: BuildOptions): void {
  oneOf('precision', o.precision, PRECISIONS);
  if (o.precision !== 'int8' && (o.calibrationDir !== undefined || o.calibrationCount !== undefined))
    throw new ModelOptionsError(`Expected \`calibration\` only with precision int8, got precision \`${o.precision}\``);
  if (o.precision === 'int8' && !o.foldBatchNorm)
    throw new ModelOptionsError(
      'Expected `foldBatchNorm` with precision int8: a BatchNormalization node between a Conv and its QuantizeLinear stops onnxruntime from fusing them',
    );
  const count = o.calibrationCount;
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > 100_000))
    throw new ModelOptionsError(
      `Expected \`calibrationCount\` to be an integer in [1, 100000], got \`${String(count)}\``,
    );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** "resnet50" for the defaults; non-default architecture options are appended: "resnet50-v1-w0.125-c10". */
export function defaultModelName(o: BuildOptions): string {
  const parts = [`resnet${o.depth}`];
  if (o.variant !== DEFAULT_BUILD_OPTIONS.variant) parts.push(o.variant);
  if (o.shortcut !== DEFAULT_BUILD_OPTIONS.shortcut) parts.push(`shortcut${o.shortcut}`);
  if (o.width !== 1) parts.push(`w${o.width}`);
  if (o.classes !== 1000) parts.push(`c${o.classes}`);
  if (o.precision !== 'fp32') parts.push(o.precision);
  return parts.join('-');
}
