// The ResNet family as data (after flax examples/imagenet/models.py): depth -> block kind and
// stage sizes; one nested loop builds every stage. Stem, stages, head as in torchvision's resnet.py.
import { IMAGENET_PRESET } from '../preprocess/preset.ts';
import { basicBlock, bottleneck, convBn, type BlockContext, type Shortcut, type Variant } from './blocks.ts';
import type { Graph, Value } from './onnx/graph.ts';
import { flatten, gemm, globalAveragePool, maxPool, softmax } from './onnx/ops.ts';
import { FLOAT_GRAPH, type Quantizer } from './quantize/quantizer.ts';
import type { WeightSource } from './weights/source.ts';

export const RESNET_FAMILY = {
  18: { block: 'basic', stages: [2, 2, 2, 2] },
  34: { block: 'basic', stages: [3, 4, 6, 3] },
  50: { block: 'bottleneck', stages: [3, 4, 6, 3] },
  101: { block: 'bottleneck', stages: [3, 4, 23, 3] },
  152: { block: 'bottleneck', stages: [3, 8, 36, 3] },
} as const;

export type Depth = keyof typeof RESNET_FAMILY;
export const DEPTHS = Object.keys(RESNET_FAMILY).map(Number) as Depth[];
const BLOCKS = { basic: basicBlock, bottleneck } as const;
/** Stem and first-stage width; stage i has BASE_WIDTH * 2^i planes. */
export const BASE_WIDTH = 64;
export const INPUT_SIZE = IMAGENET_PRESET.crop;
export const BATCH_DIM = 'batch';

export interface ResNetOptions {
  readonly depth: Depth;
  readonly variant: Variant;
  readonly shortcut: Shortcut;
  /** Channel multiplier; each layer keeps at least one channel. */
  readonly width: number;
  readonly classes: number;
  readonly foldBatchNorm: boolean;
}

export interface ResNetOutputs {
  readonly logits: Value;
  readonly probabilities: Value;
  /** Trainable parameters as torchvision counts them. */
  readonly parameters: number;
}

export const scaledChannels = (channels: number, width: number): number => Math.max(1, Math.round(channels * width));

export function blockCount(depth: Depth): number {
  return RESNET_FAMILY[depth].stages.reduce((a, b) => a + b, 0);
}

export function buildResNet(
  g: Graph,
  options: ResNetOptions,
  weights: WeightSource,
  onBlock?: (done: number, total: number) => void,
  quantizer: Quantizer = FLOAT_GRAPH,
): ResNetOutputs {
  if (quantizer !== FLOAT_GRAPH && !options.foldBatchNorm)
    g.fail(
      'a quantized graph needs BatchNorm folded into the convs (a BatchNormalization node would break every fusion)',
    );
  const ctx: BlockContext = {
    g,
    weights,
    foldBatchNorm: options.foldBatchNorm,
    variant: options.variant,
    shortcut: options.shortcut,
    quantizer,
    parameters: 0,
  };
  const { block, stages } = RESNET_FAMILY[options.depth];
  const input = quantizer.activation(g, g.input('input', [BATCH_DIM, 3, INPUT_SIZE, INPUT_SIZE]), 'input', false);
  let x = convBn(
    ctx,
    input,
    { conv: 'conv1', bn: 'bn1' },
    { out: scaledChannels(BASE_WIDTH, options.width), kernel: 7, stride: 2, then: 'relu' },
  );
  x = g.withScope('maxpool', () =>
    quantizer.sameScale(g, x, maxPool(g, x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })),
  );
  let done = 0;
  stages.forEach((blocks, i) => {
    const planes = scaledChannels(BASE_WIDTH * 2 ** i, options.width);
    for (let j = 0; j < blocks; j++) {
      const stride = i > 0 && j === 0 ? 2 : 1;
      x = g.withScope(`layer${i + 1}.${j}`, () => BLOCKS[block](ctx, x, planes, stride));
      onBlock?.(++done, blockCount(options.depth));
    }
  });
  return head(ctx, x, options.classes);
}

/** Global average pool -> flatten -> fc (`logits`) -> softmax (`probabilities`). */
function head(ctx: BlockContext, x: Value, classes: number): ResNetOutputs {
  const { g } = ctx;
  const features = x.shape[1] as number;
  const fc = ctx.weights.linear('fc', classes, features);
  ctx.parameters += fc.weight.length + fc.bias.length;
  const logits = g.withScope('fc', () => {
    const pooled = flatten(g, globalAveragePool(g, x));
    return gemm(
      g,
      pooled,
      g.initializer('fc.weight', [classes, features], fc.weight),
      g.initializer('fc.bias', [classes], fc.bias),
      { name: 'logits' },
    );
  });
  const probabilities = g.withScope('softmax', () => softmax(g, logits, { axis: 1, name: 'probabilities' }));
  g.output(logits);
  g.output(probabilities);
  return { logits, probabilities, parameters: ctx.parameters };
}
