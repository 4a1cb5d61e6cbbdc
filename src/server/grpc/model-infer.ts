// ModelInfer's request and response as this service reads and writes them. What is accepted is
// the REST route's (src/server/v2/infer-input.ts): one input, FP32 `input` [N,3,224,224] or a
// BYTES tensor [N] of encoded images, the same limits. gRPC keeps the data either in
// raw_input_contents (what tritonclient sends: one entry per input, little-endian; BYTES elements
// length-prefixed) or in the typed contents (fp32_contents, bytes_contents). Outputs go in
// raw_output_contents, as Triton answers; `classification` (int64_param k) on a requested output
// returns BYTES [N,k] "score:index:label" strings.
import { errors } from '../../errors.ts';
import type { ModelManifest } from '../../model/manifest.ts';
import {
  ONE_INPUT,
  allOutputs,
  outputRequest,
  parseInput,
  type InferInput,
  type Limits,
  type OutputRequest,
  type TensorData,
} from '../v2/infer-input.ts';
import { outputBytes, outputTensors, type RowOutputs } from '../v2/infer-response.ts';
import { readBytesElements, readFloat32 } from '../v2/tensor-data.ts';
import type { WireLimits } from './wire-limits.ts';

/** InferParameter, decoded with `oneofs`: `parameter_choice` names the field that is set. */
export interface InferParameter {
  readonly parameter_choice?: string;
  readonly [field: string]: unknown;
}
type Parameters = Readonly<Record<string, InferParameter>>;

interface TensorContents {
  readonly fp32_contents: readonly number[];
  readonly bytes_contents: readonly Uint8Array[];
}

export interface ModelInferRequest {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly parameters: Parameters;
  readonly inputs: readonly {
    readonly name: string;
    readonly datatype: string;
    readonly shape: readonly number[];
    readonly contents: TensorContents | null;
  }[];
  readonly outputs: readonly { readonly name: string; readonly parameters: Parameters }[];
  readonly raw_input_contents: readonly Uint8Array[];
}

export interface ParsedInfer {
  readonly input: InferInput;
  readonly outputs: readonly OutputRequest[];
  /** Triton's `timeout` request parameter, in microseconds. */
  readonly timeoutUs?: number;
}

const MAX_DIMS = 16;
const MAX_PARAMETERS = 64;
const MAX_OUTPUTS = 16;

/** The wire limits of a ModelInferRequest (wire-limits.ts): field numbers of grpc_service.proto. */
export function modelInferLimits(limits: Limits): WireLimits {
  const parameters = {
    max: MAX_PARAMETERS,
    refuse: () => errors.INVALID_PARAMETER(`more than ${MAX_PARAMETERS} parameters`),
  };
  const otherContents = {
    max: 0,
    refuse: () =>
      errors.INVALID_TENSOR(
        'contents must be fp32_contents (FP32) or bytes_contents (BYTES), the only datatypes taken',
      ),
  };
  const contents: WireLimits = {
    ...Object.fromEntries([1, 2, 3, 4, 5, 7].map((field) => [field, otherContents])),
    8: { max: limits.maxImagesPerRequest, refuse: () => errors.TOO_MANY_IMAGES(String(limits.maxImagesPerRequest)) },
  };
  const input: WireLimits = {
    3: { max: MAX_DIMS, varints: true, refuse: () => errors.INVALID_TENSOR(`a shape has more than ${MAX_DIMS} dims`) },
    4: parameters,
    5: { max: 1, fields: contents, refuse: () => errors.MALFORMED_BODY('an input has contents twice') },
  };
  return {
    4: parameters,
    5: { max: 1, fields: input, refuse: () => errors.INVALID_TENSOR(ONE_INPUT) },
    6: {
      max: MAX_OUTPUTS,
      fields: { 2: parameters },
      refuse: () => errors.INVALID_TENSOR(`more than ${MAX_OUTPUTS} outputs requested`),
    },
    7: { max: 1, refuse: () => errors.INVALID_TENSOR('raw_input_contents holds more entries than there are inputs') },
  };
}

/** The value of a parameter, whichever of its fields is set; undefined when it is absent. */
export function parameterValue(parameters: Parameters, key: string): unknown {
  const parameter = parameters[key];
  const choice = parameter?.parameter_choice;
  return choice === undefined ? undefined : parameter?.[choice];
}

function grpcTensorData(name: string, raw: Uint8Array | undefined, contents: TensorContents | null): TensorData {
  return {
    float32(count) {
      if (raw !== undefined) return readFloat32(raw, count, name);
      const values = contents?.fp32_contents ?? [];
      if (values.length !== count)
        throw errors.INVALID_TENSOR(`"${name}" holds ${values.length} elements; its shape needs ${count}`);
      const data = Float32Array.from(values);
      if (!data.every(Number.isFinite)) throw errors.INVALID_TENSOR(`"${name}" holds a NaN or infinite value`);
      return data;
    },
    bytesElements(count) {
      if (raw !== undefined) return readBytesElements(raw, count, name);
      const elements = contents?.bytes_contents ?? [];
      if (elements.length !== count)
        throw errors.INVALID_TENSOR(`"${name}" holds ${elements.length} BYTES elements; its shape needs ${count}`);
      return [...elements];
    },
  };
}

function hasContents(contents: TensorContents | null): boolean {
  return contents !== null && (contents.fp32_contents.length > 0 || contents.bytes_contents.length > 0);
}

function outputRequests(request: ModelInferRequest, manifest: ModelManifest): OutputRequest[] {
  if (request.outputs.length === 0) return allOutputs(manifest, true);
  return request.outputs.map((output) =>
    outputRequest(output.name, parameterValue(output.parameters, 'classification'), true, manifest),
  );
}

export function parseModelInfer(request: ModelInferRequest, manifest: ModelManifest, limits: Limits): ParsedInfer {
  const [input, ...others] = request.inputs;
  if (input === undefined || others.length > 0) throw errors.INVALID_TENSOR(ONE_INPUT);
  const raw = request.raw_input_contents;
  if (raw.length > 1) throw errors.INVALID_TENSOR('raw_input_contents holds more entries than there are inputs');
  if (raw.length === 1 && hasContents(input.contents))
    throw errors.INVALID_TENSOR('an input carries contents while raw_input_contents is used; send one or the other');
  const parsed = parseInput(input, grpcTensorData(input.name, raw[0], input.contents), manifest, limits);
  const timeout = parameterValue(request.parameters, 'timeout');
  return {
    input: parsed,
    outputs: outputRequests(request, manifest),
    ...(Number.isSafeInteger(timeout) && (timeout as number) > 0 ? { timeoutUs: timeout as number } : {}),
  };
}

/** The ModelInferResponse of these rows: every output in raw_output_contents, the request id echoed. */
export function modelInferResponse(
  rows: readonly RowOutputs[],
  outputs: readonly OutputRequest[],
  meta: { modelName: string; modelVersion: string; id: string; labels: readonly string[] },
) {
  const tensors = outputTensors(rows, outputs, meta.labels);
  return {
    model_name: meta.modelName,
    model_version: meta.modelVersion,
    id: meta.id,
    outputs: tensors.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    raw_output_contents: tensors.map((tensor) => {
      const bytes = outputBytes(tensor);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }),
  };
}
