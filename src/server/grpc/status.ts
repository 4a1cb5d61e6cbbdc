// Registry errors (src/errors.ts) as gRPC statuses. Every code has its status here (the table is
// a Record over ErrorCode, so a new code cannot be added without choosing one); the details
// start with the stable code ("QUEUE_FULL: The inference queue is full"), and the trailing
// metadata carries it as `x-error-code`, as REST's X-Error-Code header does. Refusals REST sends
// with Retry-After carry `retry-after` (seconds) and gRPC's own retry pushback
// (`grpc-retry-pushback-ms`, gRFC A6), which grpc clients with a retry policy obey. INTERNAL is
// for bugs only, and its cause is never sent.
import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';
import { errors, type ErrorCode, type ServiceError } from '../../errors.ts';
import type { Refusal } from '../classifier/classifier.ts';

export const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  IMAGE_UNDECODABLE: status.INVALID_ARGUMENT,
  NO_IMAGES: status.INVALID_ARGUMENT,
  INVALID_JSON: status.INVALID_ARGUMENT,
  INVALID_BASE64: status.INVALID_ARGUMENT,
  INVALID_PARAMETER: status.INVALID_ARGUMENT,
  INVALID_TENSOR: status.INVALID_ARGUMENT,
  MALFORMED_BODY: status.INVALID_ARGUMENT,
  MODEL_REQUIRED: status.INVALID_ARGUMENT,
  MODEL_NAME_INVALID: status.INVALID_ARGUMENT,
  PARAMETER_NOT_ALLOWED: status.INVALID_ARGUMENT,
  // Triton answers a failed load with INVALID_ARGUMENT too.
  MODEL_LOAD_FAILED: status.INVALID_ARGUMENT,
  BODY_TOO_LARGE: status.INVALID_ARGUMENT,
  IMAGE_TOO_LARGE: status.INVALID_ARGUMENT,
  IMAGE_TOO_MANY_PIXELS: status.INVALID_ARGUMENT,
  TOO_MANY_IMAGES: status.INVALID_ARGUMENT,
  // grpc's own servers answer metadata over their limit so.
  METADATA_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_MEDIA_TYPE: status.INVALID_ARGUMENT,
  UNSUPPORTED_IMAGE_FORMAT: status.INVALID_ARGUMENT,
  UNAUTHORIZED: status.UNAUTHENTICATED,
  LOOPBACK_ONLY: status.PERMISSION_DENIED,
  ORIGIN_REFUSED: status.PERMISSION_DENIED,
  MODEL_CONTROL_DISABLED: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  MODEL_NOT_FOUND: status.NOT_FOUND,
  // An HTTP route's method; gRPC has no such refusal, but the table covers every code.
  METHOD_NOT_ALLOWED: status.UNIMPLEMENTED,
  REQUEST_TIMEOUT: status.DEADLINE_EXCEEDED,
  QUEUE_FULL: status.RESOURCE_EXHAUSTED,
  NOT_READY: status.UNAVAILABLE,
  MODEL_UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  WORKER_FAILED: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  INTERNAL: status.INTERNAL,
};

export type GrpcRefusal = ServerErrorResponse & { code: status; details: string; metadata: Metadata };

/** The gRPC status a call ends with for a registry error. */
export function grpcError(err: ServiceError): GrpcRefusal {
  const message = err.code === 'INTERNAL' ? 'Internal server error' : err.message;
  const metadata = new Metadata();
  metadata.set('x-error-code', err.code);
  if (err.statusCode === 503) {
    const seconds = Math.max(1, Math.ceil((err as Refusal).retryAfterSeconds ?? 1));
    metadata.set('retry-after', String(seconds));
    metadata.set('grpc-retry-pushback-ms', String(seconds * 1000));
  }
  return Object.assign(new Error(message), {
    code: GRPC_STATUS[err.code],
    details: `${err.code}: ${message}`,
    metadata,
  });
}

/** INTERNAL, for a thrown value that is not a registry error. */
export const internalError = (): GrpcRefusal => grpcError(errors.INTERNAL());
