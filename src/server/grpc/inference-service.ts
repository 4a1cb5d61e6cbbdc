// The RPCs of inference.GRPCInferenceService, answered from the same registry, classifiers and
// V2 functions as the REST routes: each asks the registry (acceptWork before any inference work,
// resolve for metadata and readiness) and returns the response object; grpc-server.ts turns
// thrown registry errors into statuses. The call's deadline is the queue deadline (capped by
// MAX_REQUEST_TIMEOUT_MS, as REST's), and a cancelled call's queued images leave the queue.
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { errors, isServiceError } from '../../errors.ts';
import type { WorkOptions } from '../classifier/classifier.ts';
import type { ModelRegistry } from '../classifier/registry.ts';
import type { Config } from '../config.ts';
import type { RepositoryController } from '../repository/controller.ts';
import { tensorRows } from '../v2/infer-input.ts';
import { modelMetadata } from '../v2/model-metadata.ts';
import { authorizeManagement } from '../v2/repository-guard.ts';
import { checkRepositoryParameters, checkedModelName } from '../v2/repository-routes.ts';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from '../v2/routes.ts';
import { modelInferResponse, parseModelInfer, type ModelInferRequest } from './model-infer.ts';
import { decoded, type Refused } from './proto.ts';

export interface ServiceContext {
  readonly config: Config;
  readonly registry: ModelRegistry;
  readonly repository: RepositoryController | null;
}

/** What a call reports for its log line. */
export interface CallNotes {
  images?: number;
  model?: string;
}

type Call<T> = ServerUnaryCall<T | Refused, unknown>;
export type Rpc = (call: Call<never>, notes: CallNotes) => Promise<object>;

interface ModelRequest {
  readonly name: string;
  readonly version: string;
}
interface RepositoryRequest {
  readonly model_name: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** An empty string is "not given" in proto3. */
const given = (text: string): string | undefined => (text === '' ? undefined : text);

/** The IP address of grpc-js's peer string ("127.0.0.1:50123", "::1:50123"), from the socket. */
export function peerAddress(peer: string): string | undefined {
  const match = /^(.+):\d+$/.exec(peer);
  return match?.[1];
}

/** Queue deadline: the call's deadline, Triton's `timeout` parameter (µs) if shorter; capped like REST. */
export function deadlineOf(call: Call<unknown>, config: Config, timeoutUs: number | undefined): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  const fromCall = Number.isFinite(at) ? Math.max(1, Math.ceil(at - Date.now())) : undefined;
  const fromParameter = timeoutUs === undefined ? undefined : Math.ceil(timeoutUs / 1000);
  const chosen = Math.min(fromCall ?? Infinity, fromParameter ?? Infinity);
  return Math.min(Number.isFinite(chosen) ? chosen : config.requestTimeoutMs, config.maxRequestTimeoutMs);
}

/** Aborted when the client cancels the call: one waiting for room stops waiting, queued images leave. */
function cancelledSignal(call: Call<unknown>): AbortSignal {
  const controller = new AbortController();
  const cancel = () => controller.abort(errors.CANCELLED());
  if (call.cancelled) cancel();
  else call.once('cancelled', cancel);
  return controller.signal;
}

function workOptions(signal: AbortSignal, deadlineMs: number, notes: CallNotes, receivedAt: number): WorkOptions {
  return { deadlineMs, signal, api: 'grpc', receivedAt, onImageCount: (n) => (notes.images = n) };
}

function modelInfer(context: ServiceContext): Rpc {
  return async (call: Call<ModelInferRequest>, notes) => {
    const receivedAt = performance.now();
    const request = decoded(call.request);
    const { registry, config } = context;
    const signal = cancelledSignal(call);
    const classifier = await registry.acceptWork(given(request.model_name), given(request.model_version), signal);
    notes.model = `${classifier.name}/${classifier.version}`;
    const parsed = parseModelInfer(request, classifier.manifest, config);
    const options = workOptions(signal, deadlineOf(call, config, parsed.timeoutUs), notes, receivedAt);
    const { input } = parsed;
    const rows =
      input.kind === 'images'
        ? await classifier.classifyImages(input.images, options)
        : await classifier.inferTensors(tensorRows(input), options);
    return modelInferResponse(rows, parsed.outputs, {
      modelName: classifier.name,
      modelVersion: String(classifier.version),
      id: request.id,
      labels: classifier.labels,
    });
  };
}

function repositoryAction(context: ServiceContext, action: 'load' | 'unload'): Rpc {
  return async (call: Call<RepositoryRequest>) => {
    // The caller first, as REST's guard does before the body is read.
    authorizeManagement(context.config, {
      authorization: call.metadata.get('authorization').map(String)[0],
      hasOrigin: call.metadata.get('origin').length > 0,
      remoteAddress: peerAddress(call.getPeer()),
    });
    const request = decoded(call.request);
    checkRepositoryParameters(Object.keys(request.parameters));
    const name = checkedModelName(request.model_name);
    const { repository } = context;
    if (repository === null) throw errors.MODEL_CONTROL_DISABLED('single-model');
    await (action === 'load' ? repository.load(name) : repository.unload(name));
    return {};
  };
}

/** The service's RPCs by method name. */
export function inferenceRpcs(context: ServiceContext): Readonly<Record<string, Rpc>> {
  const { registry } = context;
  return {
    ServerLive: async () => ({ live: true }),
    ServerReady: async () => ({ ready: registry.ready() }),
    ModelReady: async (call: Call<ModelRequest>) => {
      const { name, version } = decoded(call.request);
      try {
        return { ready: registry.modelReady(given(name), given(version)) };
      } catch (err) {
        // A model that could not load, or was unloaded, exists but is not ready; unknown ones are NOT_FOUND.
        if (isServiceError(err) && err.code === 'MODEL_UNAVAILABLE') return { ready: false };
        throw err;
      }
    },
    ServerMetadata: async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [...EXTENSIONS] }),
    ModelMetadata: async (call: Call<ModelRequest>) => {
      const { name, version } = decoded(call.request);
      const classifier = registry.resolve(given(name), given(version));
      return modelMetadata(classifier, registry.servedVersions(classifier.name));
    },
    ModelInfer: modelInfer(context),
    RepositoryIndex: async (call: Call<{ ready: boolean }>) => ({
      models: registry
        .index(decoded(call.request).ready)
        .map(({ name, version, state, reason }) => ({ name, version: version ?? '', state, reason })),
    }),
    RepositoryModelLoad: repositoryAction(context, 'load'),
    RepositoryModelUnload: repositoryAction(context, 'unload'),
  };
}
