// Drives an engine directly, the baseline of benchmark 1: `concurrency` loops each keep one
// pre-made tensor in flight (as `concurrency` HTTP connections would), for a fixed time.
import { latencyStats, type LatencyMs } from '../../lib/cannon.ts';

/** The part of the engine the driver uses (src/model/runtime/engine.ts implements it). */
export interface InferTarget {
  infer(input: Float32Array): Promise<unknown>;
}

export interface DriveResult {
  readonly images: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
  readonly latencyMs: LatencyMs;
  /** Failed calls by error code. */
  readonly errors: Readonly<Record<string, number>>;
}

export async function driveEngine(
  target: InferTarget,
  tensor: Float32Array,
  concurrency: number,
  durationS: number,
): Promise<DriveResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const start = performance.now();
  const end = start + durationS * 1000;
  const loop = async (): Promise<void> => {
    // Each loop owns its input: an engine may transfer (detach) what it is given.
    let input = tensor.slice();
    while (performance.now() < end) {
      if (input.length === 0) input = tensor.slice();
      const t0 = performance.now();
      try {
        await target.infer(input);
        latencies.push(performance.now() - t0);
      } catch (err) {
        const code = String((err as { code?: unknown }).code ?? 'ERROR');
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - start) / 1000;
  return {
    images: latencies.length,
    seconds,
    imagesPerSecond: latencies.length / seconds,
    latencyMs: latencyStats(latencies),
    errors,
  };
}
