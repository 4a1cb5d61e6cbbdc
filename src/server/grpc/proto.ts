// The KServe V2 gRPC service, loaded at run time from proto/grpc_service.proto (beside this file in
// src/ and, copied by `npm run build`, in dist/). Requests are decoded as plain objects: field
// names as in the .proto, int64 as numbers, every repeated and scalar field present. A request
// that is not valid protobuf, or whose repeated fields exceed their limits (wire-limits.ts), is
// not thrown at grpc-js (which would answer INTERNAL) but handed to the handler as a Refused
// value, so the call ends with INVALID_ARGUMENT and a registry code.
import { fileURLToPath } from 'node:url';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { errors, isServiceError, type ServiceError } from '../../errors.ts';
import { checkWireLimits, type WireLimits } from './wire-limits.ts';

export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));
export const SERVICE_PROTO = 'grpc_service.proto';

const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, oneofs: true };

const REFUSED: unique symbol = Symbol('refused');

/** A request that could not be decoded: the error its call ends with. */
export interface Refused {
  readonly [REFUSED]: ServiceError;
}

/** Throws the refusal of a request that could not be decoded; returns the request otherwise. */
export function decoded<T>(request: T | Refused): T {
  if (typeof request === 'object' && request !== null && REFUSED in request) throw request[REFUSED];
  return request;
}

function safeDeserializer(method: MethodDefinition<object, object>, limits: WireLimits | undefined) {
  return (bytes: Buffer): object => {
    try {
      if (limits !== undefined) checkWireLimits(bytes, limits);
      return method.requestDeserialize(bytes);
    } catch (err) {
      const refusal = isServiceError(err) ? err : errors.MALFORMED_BODY('the message is not valid protobuf');
      return { [REFUSED]: refusal } satisfies Refused;
    }
  };
}

/**
 * The service definition of `inference.GRPCInferenceService`, each method's request decoded
 * safely; `limits` gives the wire limits of a method's request, by method name (ModelInfer).
 */
export function inferenceService(limits: Readonly<Record<string, WireLimits>>): ServiceDefinition {
  const definitions = loadSync(SERVICE_PROTO, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  const service = definitions['inference.GRPCInferenceService'] as ServiceDefinition;
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      { ...method, requestDeserialize: safeDeserializer(method, limits[name]) },
    ]),
  );
}
