// onnxruntime session options, all set explicitly so a deployment's behaviour does not depend on
// library defaults. Names and the `extra` config keys: onnxruntime-common's InferenceSession
// typings and onnxruntime_session_options_config_keys.h (kOrtSessionOptionsConfigAllowIntraOpSpinning).
import type { InferenceSession } from 'onnxruntime-node';
import type { ExecutionProvider } from './providers.ts';

export interface SessionSettings {
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  /** Intra-op threads spin-wait for work after each run (onnxruntime's default) or sleep at once. */
  readonly allowSpinning: boolean;
}

export function sessionOptionsFor(settings: SessionSettings): InferenceSession.SessionOptions {
  const { provider } = settings;
  return {
    // CUDA first; onnxruntime places nodes CUDA cannot run on the CPU provider.
    executionProviders: provider.name === 'cuda' ? [{ name: 'cuda', deviceId: provider.deviceId }, 'cpu'] : ['cpu'],
    intraOpNumThreads: settings.intraOpThreads,
    // One graph runs at a time: parallel execution mode would only add threads competing for cores.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    // The Node binding flattens nested keys into "session.intra_op.allow_spinning".
    extra: { session: { intra_op: { allow_spinning: settings.allowSpinning ? '1' : '0' } } },
  };
}
