// The pieces a ResNet is made of: conv+BN(+ReLU), the two residual blocks and the three shortcut
// options of He et al. (2015), section 3.3. Tensor names follow torchvision's resnet.py
// (conv1/bn1, downsample.0/.1), so torchvision and timm weights load by name.
import { batchNormalization, conv, pad, relu, slice } from './onnx/ops.ts';
import type { Graph, Value } from './onnx/graph.ts';
import type { Quantizer } from './quantize/quantizer.ts';
import { foldBatchNorm } from './weights/fold.ts';
import { BN_EPSILON, type BatchNormRole, type WeightSource } from './weights/source.ts';

export type Variant = 'v1' | 'v1.5';
export type Shortcut = 'A' | 'B' | 'C';

export interface BlockContext {
  readonly g: Graph;
  readonly weights: WeightSource;
  readonly foldBatchNorm: boolean;
  readonly variant: Variant;
  readonly shortcut: Shortcut;
  /** FP32 (FLOAT_GRAPH), the calibration probe or the int8 QDQ emitter (src/model/quantize/). */
  readonly quantizer: Quantizer;
  /** Trainable parameters as torchvision counts them (conv + BN affine + fc). */
  parameters: number;
}

const qualified = (g: Graph, local: string): string => (g.scope ? `${g.scope}.${local}` : local);
const channels = (x: Value): number => x.shape[1] as number;

/**
 * conv (k x k, padding k/2, no bias) -> BatchNorm -> ReLU if `then` is 'relu'; BN folded into the
 * conv or kept. The quantizer supplies a folded conv's weight and bias and sees its output (after
 * the ReLU, never between Conv and ReLU) under the conv's name.
 */
export function convBn(
  ctx: BlockContext,
  x: Value,
  names: { conv: string; bn: string },
  spec: { out: number; kernel: number; stride: number; then: BatchNormRole },
): Value {
  const { g } = ctx;
  const convName = qualified(g, names.conv);
  const bnName = qualified(g, names.bn);
  const shape = [spec.out, channels(x), spec.kernel, spec.kernel] as const;
  const { weight, bn } = ctx.weights.convBn({ conv: convName, bn: bnName, shape, role: spec.then });
  ctx.parameters += weight.length + 2 * spec.out;
  const p = Math.floor(spec.kernel / 2);
  const geometry = { strides: [spec.stride, spec.stride] as const, pads: [p, p, p, p] as const };
  return g.withScope(names.conv, () => {
    let y: Value;
    if (ctx.foldBatchNorm) {
      const folded = foldBatchNorm(weight, spec.out, bn, BN_EPSILON);
      const inputs = ctx.quantizer.convInputs(g, x, { name: convName, shape, ...folded });
      y = conv(g, x, inputs.weight, inputs.bias, geometry);
    } else {
      y = conv(g, x, g.initializer(`${convName}.weight`, shape, weight), undefined, geometry);
      y = batchNormalization(
        g,
        y,
        {
          scale: g.initializer(`${bnName}.weight`, [spec.out], bn.weight),
          bias: g.initializer(`${bnName}.bias`, [spec.out], bn.bias),
          mean: g.initializer(`${bnName}.running_mean`, [spec.out], bn.runningMean),
          variance: g.initializer(`${bnName}.running_var`, [spec.out], bn.runningVar),
        },
        { epsilon: BN_EPSILON },
      );
    }
    const afterRelu = spec.then === 'relu';
    return ctx.quantizer.activation(g, afterRelu ? relu(g, y) : y, convName, afterRelu);
  });
}

/**
 * The shortcut around a block: identity where shapes match (A, B), a 1x1 conv+BN projection where
 * they change (B) or always (C), and for A a parameter-free strided subsample (x[:, :, ::s, ::s])
 * with the new channels zero-padded after the existing ones.
 */
export function shortcut(ctx: BlockContext, x: Value, out: number, stride: number): Value {
  const changes = stride !== 1 || channels(x) !== out;
  if (ctx.shortcut === 'C' || (ctx.shortcut === 'B' && changes)) {
    return convBn(ctx, x, { conv: 'downsample.0', bn: 'downsample.1' }, { out, kernel: 1, stride, then: 'projection' });
  }
  if (!changes) return x;
  return ctx.quantizer.sameScale(ctx.g, x, zeroPadShortcut(ctx.g, x, out, stride));
}

export function zeroPadShortcut(g: Graph, x: Value, out: number, stride: number): Value {
  return g.withScope('downsample', () => {
    const [, , h, w] = x.shape as [unknown, number, number, number];
    const sub = stride === 1 ? x : slice(g, x, { axes: [2, 3], starts: [0, 0], ends: [h, w], steps: [stride, stride] });
    const extra = out - channels(x);
    if (extra < 0) g.fail(`shortcut A cannot reduce ${channels(x)} channels to ${out}`);
    return extra === 0 ? sub : pad(g, sub, [0, 0, 0, 0, 0, extra, 0, 0]);
  });
}

/**
 * Bottleneck (ResNet-50/101/152): 1x1 reduce -> 3x3 -> 1x1 expand (x4), ReLU after the add.
 * v1.5 puts the stride on the 3x3 as torchvision and timm do ("This variant is also known as
 * ResNet V1.5 and improves accuracy", torchvision resnet.py); v1 puts it on the first 1x1, as the
 * original paper's TensorFlow code does.
 */
export function bottleneck(ctx: BlockContext, x: Value, planes: number, stride: number): Value {
  const out = planes * 4;
  const [s1, s2] = ctx.variant === 'v1' ? [stride, 1] : [1, stride];
  let y = convBn(ctx, x, { conv: 'conv1', bn: 'bn1' }, { out: planes, kernel: 1, stride: s1, then: 'relu' });
  y = convBn(ctx, y, { conv: 'conv2', bn: 'bn2' }, { out: planes, kernel: 3, stride: s2, then: 'relu' });
  y = convBn(ctx, y, { conv: 'conv3', bn: 'bn3' }, { out, kernel: 1, stride: 1, then: 'residual' });
  return ctx.quantizer.residualRelu(ctx.g, y, shortcut(ctx, x, out, stride), ctx.g.scope);
}

/** Basic block (ResNet-18/34): 3x3 -> 3x3. Its first conv is the 3x3, so v1 and v1.5 coincide. */
export function basicBlock(ctx: BlockContext, x: Value, planes: number, stride: number): Value {
  let y = convBn(ctx, x, { conv: 'conv1', bn: 'bn1' }, { out: planes, kernel: 3, stride, then: 'relu' });
  y = convBn(ctx, y, { conv: 'conv2', bn: 'bn2' }, { out: planes, kernel: 3, stride: 1, then: 'residual' });
  return ctx.quantizer.residualRelu(ctx.g, y, shortcut(ctx, x, planes, stride), ctx.g.scope);
}
