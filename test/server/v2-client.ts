// A minimal V2 client for the tests, built the way tritonclient's HTTP client builds requests
// (tritonclient/http/_utils.py _get_inference_request: JSON header, then each binary input in
// order; Inference-Header-Content-Length when binary data follows; no Content-Type) and reads
// responses (InferResult: split at Inference-Header-Content-Length, binary outputs in order).
import type { LightMyRequestResponse } from 'fastify';

export const IMAGE_LENGTH = 3 * 224 * 224;

/** A deterministic image-like tensor (values about -2..2, like normalized pixels). */
export function tensor(rows: number, seed: number): Float32Array {
  let state = (seed * 2654435761) >>> 0;
  return Float32Array.from({ length: rows * IMAGE_LENGTH }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 4 - 2;
  });
}

export interface BinaryInput {
  readonly json: Record<string, unknown>;
  readonly bytes?: Uint8Array;
}

/** Body and headers of an inference request; inputs with `bytes` go as binary tensor data. */
export function inferRequest(
  request: Record<string, unknown>,
  inputs: readonly BinaryInput[],
): { payload: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      ...request,
      inputs: inputs.map(({ json, bytes }) =>
        bytes === undefined
          ? json
          : { ...json, parameters: { ...(json['parameters'] as object), binary_data_size: bytes.byteLength } },
      ),
    }),
  );
  const binaries = inputs.flatMap(({ bytes }) =>
    bytes === undefined ? [] : [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
  );
  if (binaries.length === 0) return { payload: header, headers: {} };
  return {
    payload: Buffer.concat([header, ...binaries]),
    headers: { 'inference-header-content-length': String(header.length) },
  };
}

export function float32Le(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** BYTES elements in the binary layout: 4-byte little-endian length, then the bytes. */
export function bytesElements(elements: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), Buffer.from(e)]));
}

export interface Output {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: { binary_data_size?: number };
  data?: unknown[];
  /** Decoded from the binary section when it was sent as binary. */
  binary?: Buffer;
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: Output[];
}

/** Parses a response as tritonclient's InferResult does. */
export function parseInferResponse(response: LightMyRequestResponse): InferResponse {
  const raw = response.rawPayload;
  const headerLength = response.headers['inference-header-content-length'];
  const jsonLength = headerLength === undefined ? raw.length : Number(headerLength);
  const body = JSON.parse(raw.subarray(0, jsonLength).toString('utf8')) as InferResponse;
  let offset = jsonLength;
  for (const output of body.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    output.binary = raw.subarray(offset, offset + size);
    offset += size;
  }
  if (offset !== raw.length) throw new Error(`${raw.length - offset} bytes after the last binary output`);
  return body;
}

export function floatsOf(output: Output): Float32Array {
  if (output.binary !== undefined) {
    const view = new DataView(output.binary.buffer, output.binary.byteOffset, output.binary.byteLength);
    return Float32Array.from({ length: output.binary.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  }
  return Float32Array.from(output.data as number[]);
}

export function stringsOf(output: Output): string[] {
  if (output.binary === undefined) return output.data as string[];
  const strings: string[] = [];
  for (let offset = 0; offset < output.binary.length;) {
    const length = output.binary.readUInt32LE(offset);
    strings.push(output.binary.subarray(offset + 4, offset + 4 + length).toString('utf8'));
    offset += 4 + length;
  }
  return strings;
}
