// The gRPC listener (@grpc/grpc-js): inference.GRPCInferenceService and grpc.health.v1.Health on
// GRPC_PORT, beside the Fastify app on PORT, sharing its registry, config, log and metrics.
// Messages are limited to GRPC_MAX_MESSAGE_BYTES both ways (grpc-js refuses a larger one from
// its length prefix, RESOURCE_EXHAUSTED), metadata to MAX_METADATA_BYTES, and calls per
// connection to GRPC_MAX_CONCURRENT_STREAMS.
// Each unary call logs one line and counts in grpc_server_handled_total. Drain: once the
// lifecycle says shutting down, new calls get UNAVAILABLE (SHUTTING_DOWN, from the registry) and
// health turns NOT_SERVING; close() waits for the calls in flight, then shuts the listener.
import { performance } from 'node:perf_hooks';
import {
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  status,
  type Metadata,
  type ServerInterceptor,
  type handleUnaryCall,
} from '@grpc/grpc-js';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { errors, isServiceError, type ServiceError } from '../../errors.ts';
import type { ServiceMetrics } from '../plugins/metrics.ts';
import { INFERENCE_SERVICE, ServingHealth } from './health.ts';
import { inferenceRpcs, type CallNotes, type Rpc } from './inference-service.ts';
import { modelInferLimits } from './model-infer.ts';
import { inferenceService } from './proto.ts';
import { grpcError, internalError } from './status.ts';

export interface GrpcServer {
  /** The port bound (GRPC_PORT, or the one picked for 0). */
  readonly port: number;
  /** Refreshes health now (main.ts calls it when draining starts). */
  refreshHealth(): void;
  /** Waits for the calls in flight (up to `timeoutMs`), then closes the listener and its connections. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Largest metadata a call may carry, keys and values: Node's HTTP/1 header limit (maxHeaderSize),
 * which REST has. HTTP/2 itself (nghttp2) lets through up to 64 KiB and 128 entries.
 */
export const MAX_METADATA_BYTES = 16 * 1024;

/** After the calls in flight, how long open Watch streams and idle connections get to close on their own. */
const GOAWAY_GRACE_MS = 1000;

const STATUS_NAMES = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

class CallTracker {
  #active = 0;
  #idle: (() => void)[] = [];
  begin(): void {
    this.#active++;
  }
  end(): void {
    this.#active--;
    if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
  /** Resolves when no call is in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

interface CallDeps {
  readonly log: FastifyBaseLogger;
  readonly metrics: ServiceMetrics;
  readonly calls: CallTracker;
}

/** A grpc-js unary handler around an RPC: errors to statuses, one log line, metrics, in-flight count. */
function unary(method: string, rpc: Rpc, { log, metrics, calls }: CallDeps): handleUnaryCall<unknown, object> {
  return (call, callback) => {
    const started = performance.now();
    const notes: CallNotes = {};
    calls.begin();
    const finish = (code: status, err?: ServiceError) => {
      const seconds = (performance.now() - started) / 1000;
      const labels = { grpc_service: INFERENCE_SERVICE, grpc_method: method };
      metrics.grpcHandled.inc({ ...labels, grpc_code: STATUS_NAMES[code] ?? String(code) });
      metrics.grpcDuration.observe(labels, seconds);
      const line = { rpc: method, grpc: STATUS_NAMES[code], ms: Math.round(seconds * 10000) / 10, ...notes };
      log.info(err === undefined ? line : { ...line, code: err.code }, 'grpc call done');
      calls.end();
    };
    rpc(call as Parameters<Rpc>[0], notes).then(
      (response) => {
        callback(null, response);
        finish(status.OK);
      },
      (err: unknown) => {
        if (!isServiceError(err)) log.error({ err, rpc: method }, 'unexpected error');
        const refusal = isServiceError(err) ? grpcError(err) : internalError();
        callback(refusal);
        finish(refusal.code, isServiceError(err) ? err : undefined);
      },
    );
  };
}

function metadataBytes(metadata: Metadata): number {
  let total = 0;
  for (const [key, value] of Object.entries(metadata.getMap())) total += key.length + value.length;
  return total;
}

/** Ends a call whose metadata is over MAX_METADATA_BYTES before its handler runs. */
const metadataLimit: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMetadata: (metadata, proceed) => {
          if (metadataBytes(metadata) <= MAX_METADATA_BYTES) proceed(metadata);
          else call.sendStatus(grpcError(errors.METADATA_TOO_LARGE(String(MAX_METADATA_BYTES))));
        },
      }),
  });

function bindAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function bind(server: Server, host: string, port: number): Promise<number> {
  const address = bindAddress(host, port);
  return new Promise((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, picked) =>
      err
        ? reject(new Error(`gRPC cannot listen on ${address} (GRPC_PORT; off disables it): ${err.message}`))
        : resolve(picked),
    ),
  );
}

/** Closes the listener and its connections (GOAWAY), then cuts what is still open after `graceMs`. */
function shutDown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts the gRPC listener on `host:port` (0: a free port) for the app's models. */
export async function startGrpcServer(app: FastifyInstance, host: string, port: number): Promise<GrpcServer> {
  const { config, registry, repository } = app;
  const maxMessageBytes = config.grpcMaxMessageBytes ?? config.maxBodyBytes;
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_concurrent_streams': config.grpcMaxConcurrentStreams,
    interceptors: [metadataLimit],
  });
  const deps: CallDeps = { log: app.log.child({ component: 'grpc' }), metrics: app.metrics, calls: new CallTracker() };
  const rpcs = inferenceRpcs({ config, registry, repository });
  const implementation = Object.fromEntries(
    Object.entries(rpcs).map(([method, rpc]) => [method, unary(method, rpc, deps)]),
  );
  server.addService(inferenceService({ ModelInfer: modelInferLimits(config) }), implementation);
  const health = new ServingHealth(registry);
  health.addTo(server);
  const bound = await bind(server, host, port);
  return {
    port: bound,
    refreshHealth: () => health.refresh(),
    async close(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      health.refresh();
      await deps.calls.idle(timeoutMs);
      health.stop();
      await shutDown(server, Math.max(0, Math.min(GOAWAY_GRACE_MS, deadline - Date.now())));
    },
  };
}
