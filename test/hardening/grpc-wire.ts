// Raw gRPC for the hostile-input suite: HTTP/2 requests built by hand (node:http2), so a test can
// send what no gRPC library would (bytes that are not protobuf, lying length prefixes, huge
// headers, more streams than the server allows), and protobuf messages written field by field
// (@bufbuild/protobuf's BinaryWriter) with field numbers from grpc_service.proto.
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';

export interface RawReply {
  /** The HTTP status, or the stream error code when the server reset it. */
  readonly http: number | string;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly errorCode: string | undefined;
  readonly body: Buffer;
}

/** A gRPC message on the wire: compressed flag, 4-byte big-endian length, the message. */
export function frame(message: Uint8Array, length = message.length, compressed = false): Buffer {
  const header = Buffer.alloc(5);
  header[0] = compressed ? 1 : 0;
  header.writeUInt32BE(length, 1);
  return Buffer.concat([header, message]);
}

const header = (headers: Record<string, unknown>, name: string): string | undefined => {
  const value = headers[name];
  return value === undefined ? undefined : String(value);
};

/** One call on its own connection (or on `session`): the reply's status, trailers and body. */
export function rawCall(
  address: string,
  body: Buffer,
  options: { path?: string; headers?: Record<string, string>; session?: ClientHttp2Session } = {},
): Promise<RawReply> {
  const session = options.session ?? connect(`http://${address}`);
  session.on('error', () => {});
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': options.path ?? MODEL_INFER,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    });
    const chunks: Buffer[] = [];
    let responseHeaders: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = (http: number | string) => {
      if (options.session === undefined) session.close();
      // A trailers-only reply carries grpc-status in the headers.
      const all = { ...responseHeaders, ...trailers };
      const grpcStatus = header(all, 'grpc-status');
      resolve({
        http,
        grpcStatus: grpcStatus === undefined ? undefined : Number(grpcStatus),
        grpcMessage: decodeURIComponent(header(all, 'grpc-message') ?? ''),
        errorCode: header(all, 'x-error-code'),
        body: Buffer.concat(chunks),
      });
    };
    stream.on('close', () =>
      done(
        stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR
          ? `RST ${stream.rstCode}`
          : Number(responseHeaders[':status'] ?? 0),
      ),
    );
    stream.on('error', () => {});
    stream.end(body);
  });
}

export interface TensorFields {
  readonly name?: string;
  readonly datatype?: string;
  readonly shape?: readonly (number | bigint)[];
}

/** An InferInputTensor (field 5 of ModelInferRequest) as bytes. */
export function inputTensor({ name = 'input', datatype = 'FP32', shape = [] }: TensorFields): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(name);
  w.tag(2, WireType.LengthDelimited).string(datatype);
  w.tag(3, WireType.LengthDelimited).fork();
  for (const dim of shape) w.int64(dim);
  w.join();
  return w.finish();
}

/** A ModelInferRequest for model resnet50: these inputs, then these raw_input_contents. */
export function inferMessage(inputs: readonly Uint8Array[], raw: readonly Uint8Array[] = []): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string('resnet50');
  for (const input of inputs) w.tag(5, WireType.LengthDelimited).bytes(input);
  for (const entry of raw) w.tag(7, WireType.LengthDelimited).bytes(entry);
  return w.finish();
}

/** `count` copies of one field with these bytes (a repeated-field bomb), after `prefix`. */
export function repeatedField(prefix: Uint8Array, fieldNo: number, value: Uint8Array, count: number): Buffer {
  const one = new BinaryWriter().tag(fieldNo, WireType.LengthDelimited).bytes(value).finish();
  return Buffer.concat([prefix, Buffer.alloc(one.length * count).fill(one)]);
}
