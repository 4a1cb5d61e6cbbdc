// What the engine reports for metrics, as a typed EventEmitter. The server's metrics plugin
// subscribes (`engine.stats.on('batch', ...)`); the engine never imports prom-client itself.
// Durations are in seconds (Prometheus base units).
import { EventEmitter } from 'node:events';
import type { ErrorCode } from '../../errors.ts';

export interface BatchStat {
  /** Images in the batch. */
  readonly size: number;
  /** Wall time from dispatch to results, as the batcher saw it (includes the worker round trip). */
  readonly computeSeconds: number;
  readonly ok: boolean;
}

/** Where one batch's time went around the worker thread (wall time, seconds). */
export interface WorkerStat {
  readonly size: number;
  /** The worker writing the batch's input: normalizing each crop, copying each ready tensor. */
  readonly inputSeconds: number;
  /** Posting the batch and reading its result: the round trip minus the time inside the worker. */
  readonly transferSeconds: number;
}

export interface EngineStatsEvents {
  /** Requests waiting in the queue (not counting the batch in the worker); after every change. */
  queueDepth: [depth: number];
  /** Time one request spent queued before its batch was dispatched. */
  queueWait: [seconds: number];
  /** One per finished batch, successful or not. */
  batch: [stat: BatchStat];
  /** One per batch the worker computed. */
  worker: [stat: WorkerStat];
  /** One per rejected request, by registry code (QUEUE_FULL, DEADLINE_EXCEEDED, CANCELLED, ...). */
  rejection: [code: ErrorCode];
  /** The worker thread died unexpectedly and a new one is being started. */
  workerRestart: [info: { readonly exitCode: number | null; readonly message: string }];
  /** Readiness changed (warm worker available and not shutting down). */
  readiness: [ready: boolean];
}

export class EngineStats extends EventEmitter<EngineStatsEvents> {}
