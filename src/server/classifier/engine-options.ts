// The engine a classifier runs: the server's engine settings (provider, threads, spinning,
// deadline) with the model's file and batching settings. Benchmarks build the same engine with it.
import type { EngineOptions } from '../../model/runtime/engine.ts';
import type { BatchSettings, ServerSettings } from './spec.ts';

export function engineOptionsFor(
  server: ServerSettings,
  model: { readonly modelPath: string; readonly settings: BatchSettings },
): EngineOptions {
  return {
    modelPath: model.modelPath,
    executionProvider: server.executionProvider,
    cudaDeviceId: server.cudaDeviceId,
    intraOpThreads: server.intraOpThreads,
    instances: server.modelInstances,
    allowSpinning: server.ortAllowSpinning,
    maxBatchSize: model.settings.maxBatchSize,
    maxBatchDelayMs: model.settings.maxBatchDelayMs,
    maxQueue: model.settings.maxQueue,
    defaultDeadlineMs: server.requestTimeoutMs,
  };
}
