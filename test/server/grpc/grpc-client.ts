// A real @grpc/grpc-js client of the server's inference.GRPCInferenceService and grpc.health.v1
// Health, compiled at run time from the same .proto files a stock client is generated from, and
// the app on the tiny model with its gRPC listener on a free loopback port.
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { FastifyInstance } from 'fastify';
import { protoPath as healthProto } from 'grpc-health-check';
import { startGrpcServer, type GrpcServer } from '../../../src/server/grpc/grpc-server.ts';
import { PROTO_DIR, SERVICE_PROTO } from '../../../src/server/grpc/proto.ts';
import type { AppDeps } from '../../../src/server/app.ts';
import { startApp } from '../helpers.ts';

const OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

type Constructor = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: object,
) => Client;

function clientClass(file: string, includeDirs: string[], name: string): Constructor {
  const definition = loadPackageDefinition(loadSync(file, { ...OPTIONS, includeDirs }));
  const path = name.split('.');
  let node: unknown = definition;
  for (const part of path) node = (node as Record<string, unknown>)[part];
  return node as Constructor;
}

export const InferenceClient = clientClass(SERVICE_PROTO, [PROTO_DIR], 'inference.GRPCInferenceService');
export const HealthClient = clientClass(healthProto, [], 'grpc.health.v1.Health');

export type Outcome<T = Record<string, unknown>> =
  | { readonly ok: true; readonly response: T }
  | { readonly ok: false; readonly code: number; readonly details: string; readonly metadata: Metadata };

export interface CallOptions {
  readonly metadata?: Metadata;
  readonly deadlineMs?: number;
  /** Receives the call, to cancel it. */
  readonly onCall?: (call: { cancel(): void }) => void;
}

type Unary = (
  request: object,
  metadata: Metadata,
  options: { deadline?: Date },
  callback: (err: ServiceError | null, response: unknown) => void,
) => { cancel(): void };

/** Calls a unary method; a failure is returned (code, details, trailing metadata), not thrown. */
export function call<T = Record<string, unknown>>(
  client: Client,
  method: string,
  request: object,
  options: CallOptions = {},
): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, Unary>)[method]!.bind(client);
    const deadline = options.deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + options.deadlineMs) };
    const pending = fn(request, options.metadata ?? new Metadata(), deadline, (err, response) =>
      resolve(
        err
          ? { ok: false, code: err.code, details: err.details, metadata: err.metadata }
          : { ok: true, response: response as T },
      ),
    );
    options.onCall?.(pending);
  });
}

export interface GrpcHarness {
  readonly app: FastifyInstance;
  readonly server: GrpcServer;
  readonly client: Client;
  readonly address: string;
  close(): Promise<void>;
}

/** A client of the gRPC listener at `address`, with no message size limit of its own. */
export function inferenceClient(address: string): Client {
  return new InferenceClient(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
}

/** A gRPC listener for a started app on `host` (a free port), and a client of it. */
export async function withGrpc(app: FastifyInstance, host = '127.0.0.1'): Promise<GrpcHarness> {
  const server = await startGrpcServer(app, host, 0);
  const address = `${host.includes(':') ? `[${host}]` : host}:${server.port}`;
  const client = inferenceClient(address);
  return {
    app,
    server,
    client,
    address,
    async close() {
      client.close();
      await server.close(1000);
      await app.close();
    },
  };
}

/** The app on the tiny model (engine warm), its gRPC listener on 127.0.0.1, and a client of it. */
export async function startGrpcApp(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<GrpcHarness> {
  return withGrpc(await startApp(env, deps));
}

/** The registry code a failed call carries in its trailing metadata. */
export function errorCode(outcome: Outcome<unknown>): string | undefined {
  return outcome.ok ? undefined : String(outcome.metadata.get('x-error-code')[0]);
}
