// Min/max calibration: the FP32 network runs in onnxruntime over the calibration tensors with every
// probed tensor as an extra graph output, and each site keeps the smallest and largest value seen.
// Plain min/max: deterministic, no histogram, and nothing the calibration images produce is
// clipped. One image per run keeps the extra outputs (63 MiB per image for ResNet-50) small.
import * as ort from 'onnxruntime-node';
import type { Range } from './params.ts';
import type { ProbedTensor } from './probe.ts';

export const CALIBRATION_METHOD = 'minmax' as const;

function minMax(data: Float32Array, into: [number, number]): void {
  let [lo, hi] = into;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  into[0] = lo;
  into[1] = hi;
}

/**
 * Ranges per site. `model` is the probe graph's ONNX, whose graph outputs include every probed
 * tensor except the graph input (whose range comes from the tensors themselves).
 */
export async function calibrate(
  model: Uint8Array,
  inputName: string,
  probed: readonly ProbedTensor[],
  tensors: readonly Float32Array[],
  imageShape: readonly number[],
  onImage?: (done: number, total: number) => void,
): Promise<Map<string, Range>> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  const ranges = new Map(probed.map((p) => [p.site, [Infinity, -Infinity] as [number, number]]));
  const fetches = probed.filter((p) => p.value.name !== inputName).map((p) => p.value.name);
  try {
    for (const [i, x] of tensors.entries()) {
      const outputs = await session.run({ [inputName]: new ort.Tensor('float32', x, [1, ...imageShape]) }, fetches);
      for (const p of probed) {
        const data = p.value.name === inputName ? x : outputs[p.value.name]?.data;
        if (!(data instanceof Float32Array)) throw new Error(`calibration: no float32 output for ${p.site}`);
        minMax(data, ranges.get(p.site) as [number, number]);
      }
      onImage?.(i + 1, tensors.length);
    }
  } finally {
    await session.release();
  }
  return ranges;
}
