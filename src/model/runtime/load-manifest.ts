// The engine learns tensor names, shapes and labels from the model's sidecar manifest
// (src/model/manifest.ts), and checks the few facts it relies on before starting a worker.
import { readFile } from 'node:fs/promises';
import { MANIFEST_FORMAT, manifestPathFor, type ModelManifest, type TensorSpec } from '../manifest.ts';
import { PRECISIONS } from '../quantize/quantizer.ts';

export interface ModelIo {
  readonly input: TensorSpec;
  readonly logits: TensorSpec;
  readonly probabilities: TensorSpec;
  /** One image's shape without the batch dimension, e.g. [3, 224, 224]. */
  readonly imageShape: readonly number[];
  readonly imageLength: number;
  readonly classes: number;
}

export async function loadManifest(modelPath: string): Promise<ModelManifest> {
  const path = manifestPathFor(modelPath);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(
      `Cannot read the manifest of ${modelPath} at ${path}: ${(error as Error).message}. Build the model with \`npm run build:model\`, which writes both files.`,
      { cause: error },
    );
  }
  const manifest = JSON.parse(text) as ModelManifest;
  if (manifest.format !== MANIFEST_FORMAT) {
    throw new Error(`${path} is not a ${MANIFEST_FORMAT} manifest (format: ${String(manifest.format)})`);
  }
  // Manifests from before int8 builds carry no precision: they are FP32 models.
  const precision = (manifest as Partial<ModelManifest>).precision ?? 'fp32';
  if (!PRECISIONS.includes(precision))
    throw new Error(`${path} gives precision \`${String(precision)}\`; expected one of ${PRECISIONS.join(', ')}`);
  return { ...manifest, precision };
}

function tensor(manifest: ModelManifest, kind: 'inputs' | 'outputs', name: string): TensorSpec {
  const spec = manifest[kind].find((t) => t.name === name);
  if (spec === undefined)
    throw new Error(`The manifest of ${manifest.name} lists no ${kind.slice(0, -1)} named \`${name}\``);
  return spec;
}

/** The model's input and outputs, checked: a batch dimension first, one score per label. */
export function modelIo(manifest: ModelManifest): ModelIo {
  const input = manifest.inputs[0];
  if (input === undefined) throw new Error(`The manifest of ${manifest.name} lists no input`);
  const logits = tensor(manifest, 'outputs', 'logits');
  const probabilities = tensor(manifest, 'outputs', 'probabilities');
  const [batch, ...imageShape] = input.shape;
  if (batch !== -1 || imageShape.length === 0 || imageShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`Input \`${input.name}\` must be [batch, ...fixed dims], got [${input.shape.join(', ')}]`);
  }
  const classes = manifest.labels.length;
  for (const out of [logits, probabilities]) {
    if (out.shape.length !== 2 || out.shape[0] !== -1 || out.shape[1] !== classes) {
      throw new Error(
        `Output \`${out.name}\` must be [batch, ${classes}] (one per label), got [${out.shape.join(', ')}]`,
      );
    }
  }
  return { input, logits, probabilities, imageShape, imageLength: imageShape.reduce((a, b) => a * b, 1), classes };
}
