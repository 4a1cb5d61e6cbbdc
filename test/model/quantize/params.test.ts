import { describe, expect, it } from 'vitest';
import {
  activationParams,
  INT8_WEIGHT_MAX,
  quantizeBias,
  quantizeWeights,
  roundHalfEven,
} from '../../../src/model/quantize/params.ts';

describe('quantization parameters', () => {
  it('rounds half to even, as ONNX QuantizeLinear does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it('gives zero point 0 after a ReLU and covers [0, max] with 255 steps', () => {
    const p = activationParams([0.2, 5.1], true);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale).toBe(Math.fround(5.1 / 255));
  });

  it('widens an asymmetric range to include 0, so zero is exact', () => {
    const p = activationParams([-1, 3], false);
    expect(p.scale).toBe(Math.fround(4 / 255));
    expect(p.zeroPoint).toBe(64);
    expect(activationParams([0.5, 2], false).zeroPoint).toBe(0);
    expect(activationParams([-3, -1], false).zeroPoint).toBe(255);
  });

  it('gives an all-zero tensor a positive scale and refuses a non-finite range', () => {
    expect(activationParams([0, 0], true)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(() => activationParams([-Infinity, 1], false)).toThrow(/finite/);
  });

  it('quantizes weights per output channel, symmetric, within half a step', () => {
    const weight = Float32Array.from([0.5, -1, 0.25, 0, 0.01, -0.02, 0.005, 0.02]);
    const q = quantizeWeights(weight, 2);
    expect(Array.from(q.scales)).toEqual([Math.fround(1 / INT8_WEIGHT_MAX), Math.fround(0.02 / INT8_WEIGHT_MAX)]);
    expect(Math.max(...Array.from(q.values, Math.abs))).toBe(INT8_WEIGHT_MAX);
    weight.forEach((w, i) => {
      const scale = q.scales[i < 4 ? 0 : 1]!;
      expect(Math.abs((q.values[i] ?? 0) * scale - w)).toBeLessThanOrEqual(scale / 2 + 1e-9);
    });
  });

  it('quantizes a bias in units of input scale x weight scale', () => {
    const scales = Float32Array.from([0.01, 0.002]);
    const b = quantizeBias(Float32Array.from([1, -0.5]), 0.1, scales);
    expect(Array.from(b.scales)).toEqual([Math.fround(0.1 * scales[0]!), Math.fround(0.1 * scales[1]!)]);
    expect(Array.from(b.values)).toEqual([roundHalfEven(1 / b.scales[0]!), roundHalfEven(-0.5 / b.scales[1]!)]);
  });
});
