// Standard gRPC health checking (grpc.health.v1.Health, grpc-health-check from grpc/grpc-node),
// for load balancers and Kubernetes `grpc:` probes. Services:
// - "" and "inference.GRPCInferenceService": the server's readiness (/v2/health/ready);
// - each model's name: whether it takes work (/v2/models/{m}/ready).
// Check answers from the registry at the moment it is asked; Watch streams get a message when a
// status changes, found by refreshing every WATCH_REFRESH_MS (and at once when draining starts).
import type { Server, handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { ModelRegistry } from '../classifier/registry.ts';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
const WATCH_REFRESH_MS = 1000;

export class ServingHealth {
  readonly #registry: ModelRegistry;
  readonly #health = new HealthImplementation();
  readonly #statuses = new Map<string, ServingStatus>();
  #timer: NodeJS.Timeout | undefined;

  constructor(registry: ModelRegistry) {
    this.#registry = registry;
    this.refresh();
  }

  /** Reads every status from the registry; watchers hear only of changes. */
  refresh(): void {
    const server = this.#registry.ready() ? 'SERVING' : 'NOT_SERVING';
    const next = new Map<string, ServingStatus>([
      ['', server],
      [INFERENCE_SERVICE, server],
    ]);
    for (const name of this.#registry.modelNames()) next.set(name, this.#modelStatus(name));
    // A model that left the registry is no longer served (the library cannot forget a service).
    for (const name of this.#statuses.keys()) if (!next.has(name)) next.set(name, 'NOT_SERVING');
    for (const [name, status] of next) {
      if (this.#statuses.get(name) === status) continue;
      this.#statuses.set(name, status);
      this.#health.setStatus(name, status);
    }
  }

  /** Adds the Health service to the server; Check refreshes before it answers. */
  addTo(server: Server): void {
    this.#health.addToServer({
      addService: (service, handlers) => {
        const check = handlers['check'] as handleUnaryCall<unknown, unknown>;
        const fresh: handleUnaryCall<unknown, unknown> = (call, callback) => {
          this.refresh();
          check(call, callback);
        };
        server.addService(service, { ...(handlers as UntypedServiceImplementation), check: fresh });
      },
    });
    this.#timer = setInterval(() => this.refresh(), WATCH_REFRESH_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #modelStatus(name: string): ServingStatus {
    try {
      return this.#registry.modelReady(name) ? 'SERVING' : 'NOT_SERVING';
    } catch {
      // MODEL_UNAVAILABLE: it has no version that could load.
      return 'NOT_SERVING';
    }
  }
}
