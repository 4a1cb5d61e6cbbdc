// gRPC load, the counterpart of cannon.ts for the KServe V2 gRPC API: a ModelInferRequest
// serialized once from the service's own .proto (FP32 raw_input_contents, or a BYTES tensor of
// encoded images), then `connections` grpc-js channels (each its own HTTP/2 connection, as
// autocannon opens one socket per connection), each sending it back to back, bounded by a
// duration or an amount (and a time cap). The result has cannon.ts's shape, statuses by gRPC code
// name, so reports and run lines read both.
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { PROTO_DIR, SERVICE_PROTO } from '../../src/server/grpc/proto.ts';
import type { BodyInput, PreparedRequest } from './bodies.ts';
import { latencyStats, summarizeCannon, type CannonOptions, type CannonRun } from './cannon.ts';

export const MODEL_INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

const STATUS_NAMES = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

function modelInferSerializer(): (value: object) => Buffer {
  const definitions = loadSync(SERVICE_PROTO, { keepCase: true, longs: Number, includeDirs: [PROTO_DIR] });
  const service = definitions['inference.GRPCInferenceService'] as ServiceDefinition;
  return service['ModelInfer']!.requestSerialize;
}

/** What a gRPC load request carries: the model's FP32 tensor, or encoded images as BYTES. */
export type GrpcPayload = 'tensor' | 'images';

/** A ModelInferRequest as a PreparedRequest: `body` is the serialized message, `path` the method. */
export function grpcRequest(payload: GrpcPayload, input: BodyInput): PreparedRequest {
  const n = input.imagesPerRequest;
  let raw: Buffer;
  let tensorInput: object;
  if (payload === 'tensor') {
    const tensor = input.tensor;
    if (tensor === undefined) throw new TypeError('A gRPC tensor request needs the preprocessed tensor');
    const one = Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength);
    raw = Buffer.concat(Array.from({ length: n }, () => one));
    const side = Math.round(Math.sqrt(tensor.length / 3));
    tensorInput = { name: 'input', datatype: 'FP32', shape: [n, 3, side, side] };
  } else {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(input.image.length);
    raw = Buffer.concat(Array.from({ length: n }, () => [length, Buffer.from(input.image)]).flat());
    tensorInput = { name: 'images', datatype: 'BYTES', shape: [n] };
  }
  const message = {
    model_name: input.modelName,
    inputs: [tensorInput],
    outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: input.topk ?? 5 } } }],
    raw_input_contents: [raw],
  };
  return { method: 'POST', path: MODEL_INFER_PATH, headers: {}, body: modelInferSerializer()(message), images: n };
}

interface Tally {
  readonly latencies: number[];
  readonly byStatus: Map<string, number[]>;
  unavailableWithoutRetryAfter: number;
  transportErrors: number;
  timeouts: number;
}

function record(tally: Tally, err: ServiceError | null, ms: number): void {
  const name = err === null ? 'OK' : (STATUS_NAMES[err.code] ?? String(err.code));
  tally.latencies.push(ms);
  const list = tally.byStatus.get(name) ?? [];
  list.push(ms);
  tally.byStatus.set(name, list);
  if (err === null) return;
  const registryCode = err.metadata?.get('x-error-code').length ?? 0;
  if (registryCode === 0 && err.code === status.DEADLINE_EXCEEDED) tally.timeouts++;
  else if (registryCode === 0) tally.transportErrors++;
  const refusal = err.code === status.UNAVAILABLE || err.code === status.RESOURCE_EXHAUSTED;
  if (refusal && registryCode > 0 && err.metadata.get('retry-after').length === 0) tally.unavailableWithoutRetryAfter++;
}

function unary(client: Client, request: PreparedRequest, timeoutS: number): Promise<ServiceError | null> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      request.path,
      (value: Buffer) => value,
      (value: Buffer) => value,
      request.body,
      new Metadata(),
      { deadline: new Date(Date.now() + timeoutS * 1000) },
      (err) => resolve(err),
    ),
  );
}

/** A runner for measure.ts that sends `options.request` (a grpcRequest) to the gRPC listener at `address`. */
export function grpcRunner(address: string): (options: CannonOptions) => Promise<CannonRun> {
  return async (options) => {
    const request = options.request as PreparedRequest;
    const tally: Tally = {
      latencies: [],
      byStatus: new Map(),
      unavailableWithoutRetryAfter: 0,
      transportErrors: 0,
      timeouts: 0,
    };
    // A local subchannel pool per channel: grpc-js would otherwise share one connection among them.
    const clients = Array.from(
      { length: options.connections },
      () => new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
    );
    const startedAt = performance.now();
    const windowMs = (options.amount === undefined ? (options.durationS ?? 10) : options.maxSeconds) * 1000;
    let sent = 0;
    let lastAt = startedAt;
    const more = () =>
      performance.now() - startedAt < windowMs && (options.amount === undefined || sent < options.amount);
    const loop = async (client: Client) => {
      while (more()) {
        sent++;
        const began = performance.now();
        const err = await unary(client, request, options.timeoutS);
        lastAt = performance.now();
        record(tally, err, lastAt - began);
      }
    };
    try {
      await Promise.all(clients.map(loop));
    } finally {
      for (const client of clients) client.close();
    }
    const ok = tally.byStatus.get('OK')?.length ?? 0;
    const seconds = options.amount === undefined ? (options.durationS ?? 10) : (lastAt - startedAt) / 1000;
    const summary = summarizeCannon(
      {
        duration: seconds,
        connections: options.connections,
        latency: latencyStats(tally.latencies),
        '2xx': ok,
        non2xx: tally.latencies.length - ok - tally.transportErrors - tally.timeouts,
        errors: tally.transportErrors + tally.timeouts,
        timeouts: tally.timeouts,
        statusCodeStats: Object.fromEntries([...tally.byStatus].map(([name, list]) => [name, { count: list.length }])),
      },
      request.images,
      seconds,
    );
    const latencyByClassMs = Object.fromEntries([...tally.byStatus].sort().map(([k, v]) => [k, latencyStats(v)]));
    return { summary, latencyByClassMs, unavailableWithoutRetryAfter: tally.unavailableWithoutRetryAfter };
  };
}
