// Builds the V2 inference response ($inference_response): each requested output as JSON data or,
// when asked (`binary_data` per output or `binary_data_output` for all), as binary data after the
// JSON with Inference-Header-Content-Length. A `classification` output is BYTES [N,k] of
// "score:index:label" strings, as Triton's classification extension returns them.
import { topK } from '../../model/runtime/postprocess.ts';
import type { OutputRequest } from './infer-request.ts';
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

export function encodeInferResponse(
  rows: readonly RowOutputs[],
  requested: readonly OutputRequest[],
  meta: { modelName: string; modelVersion: string; id?: string; labels: readonly string[] },
): EncodedResponse {
  const binaries: Uint8Array[] = [];
  const outputs = requested.map((request): ResponseOutput => {
    const name = request.name as 'logits' | 'probabilities';
    const classes = rows[0]?.[name].length ?? 0;
    const output: ResponseOutput =
      request.classification === undefined
        ? { name, datatype: 'FP32', shape: [rows.length, classes] }
        : { name, datatype: 'BYTES', shape: [rows.length, request.classification] };
    if (request.classification !== undefined) {
      const strings = classify(rows, name, request.classification, meta.labels);
      if (!request.binary) return { ...output, data: strings };
      binaries.push(encodeBytesElements(strings));
    } else {
      const values = concatRows(rows, name);
      if (!request.binary) return { ...output, data: Array.from(values) };
      binaries.push(float32Bytes(values));
    }
    return { ...output, parameters: { binary_data_size: binaries.at(-1)?.byteLength ?? 0 } };
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
