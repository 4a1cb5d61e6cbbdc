// Builds the V2 inference response ($inference_response): each requested output as JSON data or,
// when asked (`binary_data` per output or `binary_data_output` for all), as binary data after the
// JSON with Inference-Header-Content-Length. A `classification` output is BYTES [N,k] of
// "score:index:label" strings, as Triton's classification extension returns them. outputTensors is
// the transport-neutral part, which gRPC encodes as raw_output_contents.
import { topK } from '../../model/runtime/postprocess.ts';
import type { OutputRequest } from './infer-input.ts';
import { encodeBytesElements, float32Bytes } from './tensor-data.ts';

export interface RowOutputs {
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

interface ResponseOutput {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: number[] | string[];
}

export interface EncodedResponse {
  readonly contentType: string;
  readonly body: Buffer;
  /** Length of the JSON part when binary data follows it. */
  readonly headerLength?: number;
}

/** Score as Triton prints it: a short decimal, not the float's full double expansion. */
function formatScore(value: number): string {
  return String(Number(value.toPrecision(6)));
}

function concatRows(rows: readonly RowOutputs[], name: 'logits' | 'probabilities'): Float32Array {
  const width = rows[0]?.[name].length ?? 0;
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, i) => out.set(row[name], i * width));
  return out;
}

function classify(
  rows: readonly RowOutputs[],
  name: 'logits' | 'probabilities',
  k: number,
  labels: readonly string[],
): string[] {
  return rows.flatMap((row) =>
    topK(row[name], k, labels).map(({ index, label, score }) => `${formatScore(score)}:${index}:${label}`),
  );
}

/** One output of a response, whatever carries it: FP32 values, or BYTES classification strings. */
export type OutputTensor =
  | { readonly name: string; readonly datatype: 'FP32'; readonly shape: number[]; readonly values: Float32Array }
  | { readonly name: string; readonly datatype: 'BYTES'; readonly shape: number[]; readonly strings: string[] };

/** The requested outputs of these rows, in request order (shared by REST and gRPC). */
export function outputTensors(
  rows: readonly RowOutputs[],
  requested: readonly OutputRequest[],
  labels: readonly string[],
): OutputTensor[] {
  return requested.map((request): OutputTensor => {
    const name = request.name as 'logits' | 'probabilities';
    if (request.classification !== undefined) {
      const strings = classify(rows, name, request.classification, labels);
      return { name, datatype: 'BYTES', shape: [rows.length, request.classification], strings };
    }
    const classes = rows[0]?.[name].length ?? 0;
    return { name, datatype: 'FP32', shape: [rows.length, classes], values: concatRows(rows, name) };
  });
}

/** The little-endian bytes of an output, as binary tensor data and gRPC raw contents lay them out. */
export function outputBytes(output: OutputTensor): Uint8Array {
  return output.datatype === 'FP32' ? float32Bytes(output.values) : encodeBytesElements(output.strings);
}

export function encodeInferResponse(
  rows: readonly RowOutputs[],
  requested: readonly OutputRequest[],
  meta: { modelName: string; modelVersion: string; id?: string; labels: readonly string[] },
): EncodedResponse {
  const binaries: Uint8Array[] = [];
  const tensors = outputTensors(rows, requested, meta.labels);
  const outputs = tensors.map((tensor, i): ResponseOutput => {
    const { name, datatype, shape } = tensor;
    if (!requested[i]?.binary)
      return { name, datatype, shape, data: tensor.datatype === 'FP32' ? Array.from(tensor.values) : tensor.strings };
    binaries.push(outputBytes(tensor));
    return { name, datatype, shape, parameters: { binary_data_size: binaries.at(-1)?.byteLength ?? 0 } };
  });
  const json = Buffer.from(
    JSON.stringify({
      model_name: meta.modelName,
      model_version: meta.modelVersion,
      ...(meta.id === undefined ? {} : { id: meta.id }),
      outputs,
    }),
  );
  if (binaries.length === 0) return { contentType: 'application/json', body: json };
  return {
    contentType: 'application/octet-stream',
    body: Buffer.concat([json, ...binaries]),
    headerLength: json.length,
  };
}
