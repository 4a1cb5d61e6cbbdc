// Weights from a .safetensors file: answers the builder's requests by torchvision name and keeps a
// list of every missing, mis-shaped, unsupported and unexpected tensor; finish() throws them all
// as one WeightsMismatchError, so a user sees the whole mismatch at once.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { WeightsSource } from '../manifest.ts';
import { detectScheme, isIgnored, toTorchvisionName } from './names.ts';
import { parseSafetensors, SAFETENSORS_DTYPES, toFloat32, type SafeTensor } from './safetensors.ts';
import type { BatchNormParams, ConvBnRequest, LinearWeights, WeightSource } from './source.ts';

export interface WeightsMismatch {
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  /** "name: file [a,b] (F32), model [c,d]" */
  readonly misshaped: readonly string[];
}

export class WeightsMismatchError extends Error {
  readonly code = 'WEIGHTS_MISMATCH';
  readonly mismatch: WeightsMismatch;
  constructor(file: string, mismatch: WeightsMismatch) {
    const parts = [
      mismatch.missing.length ? `${mismatch.missing.length} missing: ${mismatch.missing.join(', ')}` : '',
      mismatch.unexpected.length ? `${mismatch.unexpected.length} unexpected: ${mismatch.unexpected.join(', ')}` : '',
      mismatch.misshaped.length
        ? `${mismatch.misshaped.length} mis-shaped or of an unsupported dtype: ${mismatch.misshaped.join('; ')}`
        : '',
    ].filter(Boolean);
    super(`The weights in ${file} do not fit this model. ${parts.join('. ')}.`);
    this.name = 'WeightsMismatchError';
    this.mismatch = mismatch;
  }
}

export async function loadSafetensorsWeights(
  path: string,
  onProgress?: (done: number, total: number) => void,
): Promise<WeightSource> {
  onProgress?.(0, 1);
  const file = await readFile(path);
  const sha256 = createHash('sha256').update(file).digest('hex');
  const source = new SafetensorsWeights(parseSafetensors(file).tensors, {
    kind: 'safetensors',
    trained: true,
    file: basename(path),
    sha256,
  });
  onProgress?.(1, 1);
  return source;
}

export class SafetensorsWeights implements WeightSource {
  readonly description: WeightsSource;
  #byName = new Map<string, SafeTensor>();
  #unmapped: string[] = [];
  #used = new Set<string>();
  #missing: string[] = [];
  #misshaped: string[] = [];

  constructor(tensors: readonly SafeTensor[], description: WeightsSource) {
    this.description = description;
    const scheme = detectScheme(tensors.map((t) => t.name));
    for (const t of tensors) {
      if (isIgnored(t.name)) continue;
      const name = toTorchvisionName(t.name, scheme);
      if (name === undefined) this.#unmapped.push(t.name);
      else this.#byName.set(name, t);
    }
  }

  convBn(request: ConvBnRequest): { weight: Float32Array; bn: BatchNormParams } {
    const out = request.shape[0];
    const weight = this.#take(`${request.conv}.weight`, request.shape);
    const bn: BatchNormParams = {
      weight: this.#take(`${request.bn}.weight`, [out]),
      bias: this.#take(`${request.bn}.bias`, [out]),
      runningMean: this.#take(`${request.bn}.running_mean`, [out]),
      runningVar: this.#take(`${request.bn}.running_var`, [out]),
    };
    return { weight, bn };
  }

  linear(name: string, outFeatures: number, inFeatures: number): LinearWeights {
    return {
      weight: this.#take(`${name}.weight`, [outFeatures, inFeatures]),
      bias: this.#take(`${name}.bias`, [outFeatures]),
    };
  }

  finish(): void {
    const unexpected = [
      ...this.#unmapped,
      ...[...this.#byName].filter(([name]) => !this.#used.has(name)).map(([, t]) => t.name),
    ];
    if (this.#missing.length || unexpected.length || this.#misshaped.length) {
      throw new WeightsMismatchError(this.description.file ?? 'the weights file', {
        missing: this.#missing,
        unexpected,
        misshaped: this.#misshaped,
      });
    }
  }

  /** The tensor as float32, or zeros (recording why) so the build can go on collecting problems. */
  #take(name: string, shape: readonly number[]): Float32Array {
    const count = shape.reduce((a, b) => a * b, 1);
    const t = this.#byName.get(name);
    if (t) this.#used.add(name);
    if (!t) this.#missing.push(name);
    else if (
      t.shape.length !== shape.length ||
      t.shape.some((d, i) => d !== shape[i]) ||
      !(t.dtype in SAFETENSORS_DTYPES)
    ) {
      this.#misshaped.push(`${t.name}: file [${t.shape.join(',')}] (${t.dtype}), model [${shape.join(',')}]`);
    } else return toFloat32(t);
    return new Float32Array(count);
  }
}
