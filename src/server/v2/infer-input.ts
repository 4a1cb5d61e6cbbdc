// The transport-neutral part of a V2 inference request: the one input this service accepts and
// the outputs it returns, checked against the model whatever carried them (REST JSON with binary
// tensor data, or a gRPC ModelInferRequest). The input is the model's FP32 `input`
// [N,3,224,224], or a BYTES tensor [N] (or [N,1]) of encoded images that the server
// preprocesses. Shapes are checked, and the row count against MAX_IMAGES_PER_REQUEST, before
// any tensor data is read or allocated.
import { errors } from '../../errors.ts';
import type { ModelManifest } from '../../model/manifest.ts';
import type { NamedImage } from '../classifier/classifier.ts';
import { elementCount } from './tensor-data.ts';

export interface OutputRequest {
  readonly name: string;
  /** REST only: the output goes as binary tensor data after the JSON. */
  readonly binary: boolean;
  /** Top-k as "score:index:label" strings instead of the raw tensor (Triton's classification extension). */
  readonly classification?: number;
}

export type InferInput =
  | { readonly kind: 'tensor'; readonly rows: number; readonly data: Float32Array; readonly rowLength: number }
  | { readonly kind: 'images'; readonly images: readonly NamedImage[] };

export interface Limits {
  readonly maxImagesPerRequest: number;
  readonly maxImageBytes: number;
}

/** An input tensor as a request names it; the shape is unchecked. */
export interface InputTensor {
  readonly name: string;
  readonly datatype: unknown;
  readonly shape: unknown;
}

/** Where an input's data comes from: asked once, after the shape passed its checks. */
export interface TensorData {
  /** Exactly `count` finite FP32 elements, row-major. */
  float32(count: number): Float32Array;
  /** Exactly `count` BYTES elements (encoded images). */
  bytesElements(count: number): Uint8Array[];
}

export const ONE_INPUT =
  '"inputs" must hold exactly one named tensor: FP32 "input" or a BYTES tensor of encoded images';

function readShape(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw errors.INVALID_TENSOR(`"${name}" shape must be a non-empty array of non-negative integers`);
  }
  return shape as number[];
}

function checkRows(rows: number, limits: Limits): void {
  if (rows < 1) throw errors.NO_IMAGES();
  if (rows > limits.maxImagesPerRequest) throw errors.TOO_MANY_IMAGES(String(limits.maxImagesPerRequest));
}

function tensorInput(input: InputTensor, data: TensorData, manifest: ModelManifest, limits: Limits): InferInput {
  const spec = manifest.inputs[0];
  const { name } = input;
  if (spec === undefined || name !== spec.name)
    throw errors.INVALID_TENSOR(`unknown FP32 input "${name}"; the model's input is "${spec?.name}"`);
  const shape = readShape(input.shape, name);
  const expected = spec.shape.slice(1);
  if (shape.length !== spec.shape.length || expected.some((dim, i) => dim !== shape[i + 1])) {
    throw errors.INVALID_TENSOR(`"${name}" shape [${shape.join(',')}] must be [N,${expected.join(',')}]`);
  }
  const rows = shape[0] as number;
  checkRows(rows, limits);
  const count = elementCount(shape);
  return { kind: 'tensor', rows, data: data.float32(count), rowLength: count / rows };
}

function imagesInput(input: InputTensor, data: TensorData, limits: Limits): InferInput {
  const shape = readShape(input.shape, input.name);
  if (shape.length > 2 || (shape.length === 2 && shape[1] !== 1))
    throw errors.INVALID_TENSOR(`BYTES input "${input.name}" shape must be [N] or [N,1]`);
  const rows = shape[0] as number;
  checkRows(rows, limits);
  const images = data.bytesElements(rows).map((bytes, i) => ({ name: String(i), bytes }));
  return { kind: 'images', images };
}

/** The request's one input, checked against the model and the limits, its data read last. */
export function parseInput(input: InputTensor, data: TensorData, manifest: ModelManifest, limits: Limits): InferInput {
  if (input.datatype === 'FP32') return tensorInput(input, data, manifest, limits);
  if (input.datatype === 'BYTES') return imagesInput(input, data, limits);
  throw errors.INVALID_TENSOR(`datatype ${JSON.stringify(input.datatype)} is not accepted; use FP32 or BYTES`);
}

/** One requested output: a known name, and `classification` (if given) an integer from 1 to the class count. */
export function outputRequest(
  name: unknown,
  classification: unknown,
  binary: boolean,
  manifest: ModelManifest,
): OutputRequest {
  const known = manifest.outputs.map((o) => o.name);
  if (typeof name !== 'string' || !known.includes(name))
    throw errors.INVALID_TENSOR(`unknown output ${JSON.stringify(name) ?? ''}; outputs are ${known.join(', ')}`);
  const classes = manifest.labels.length;
  if (
    classification !== undefined &&
    (!Number.isSafeInteger(classification) || (classification as number) < 1 || (classification as number) > classes)
  ) {
    throw errors.INVALID_PARAMETER(`classification must be an integer from 1 to ${classes}`);
  }
  return { name, binary, ...(classification === undefined ? {} : { classification: classification as number }) };
}

/** Every output of the model, as a request that names none gets them. */
export function allOutputs(manifest: ModelManifest, binary: boolean): OutputRequest[] {
  return manifest.outputs.map((o) => ({ name: o.name, binary }));
}

/** The rows of a tensor input, as views on its data. */
export function tensorRows(input: Extract<InferInput, { kind: 'tensor' }>): Float32Array[] {
  return Array.from({ length: input.rows }, (_, i) =>
    input.data.subarray(i * input.rowLength, (i + 1) * input.rowLength),
  );
}
