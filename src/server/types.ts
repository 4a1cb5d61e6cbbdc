// What the server needs from its parts, and the decorations its plugins share. The engine's side
// of the contract is src/model/runtime/engine.ts; the server only uses this much of it.
import type { ModelManifest } from '../model/manifest.ts';
import type { Engine } from '../model/runtime/engine.ts';
import type { Admission } from './admission.ts';
import type { Config } from './config.ts';
import type { ServiceMetrics } from './plugins/metrics.ts';

/** Set when the process starts draining: readiness turns false and new work gets 503 SHUTTING_DOWN. */
export interface Lifecycle {
  shuttingDown: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly config: Config;
    /** The inference engine once it has started (null while the model loads and warms). */
    engine: Engine | null;
    /** Resolves when the engine has started (warm), rejects if it cannot start. */
    readonly engineStarted: Promise<Engine>;
    readonly lifecycle: Lifecycle;
    /** Images the server holds (preprocessing, queued, computing); new work is refused when full. */
    readonly admission: Admission;
    metrics: ServiceMetrics;
    /** The model's manifest once the engine has loaded it. */
    readonly manifest: ModelManifest;
  }
  interface FastifyRequest {
    /** Registry code of the error this request ended with, for the request log line. */
    errorCode: string | null;
    /** Images this request carried, for the request log line. */
    imageCount: number;
  }
}
