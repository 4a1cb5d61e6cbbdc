// Benchmark 1: end-to-end images/s over HTTP (multipart 500x375 JPEG: parse, decode, resize,
// batch, infer, JSON) against the raw engine on pre-made tensors, same model and same settings
// (the server's defaults), same concurrency, one after the other so they never share the CPU.
// Target: ratio >= 0.90. What the gap holds: HTTP parsing, JPEG decode + resize, JSON.
import { createEngine } from '../../src/model/runtime/engine.ts';
import { loadConfig } from '../../src/server/config.ts';
import { engineOptionsFor } from '../../src/server/plugins/engine.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SATURATING_CONNECTIONS, serverOptions, timing, type BenchContext, type Measurement } from './bench-common.ts';
import { driveEngine } from './engine-driver.ts';
import { measureRun, runLine } from './measure.ts';
import { fmt } from './report.ts';
import { withServer } from './server.ts';
import { tensorFor } from './tensor.ts';

async function engineImagesPerSecond(ctx: BenchContext, connections: number) {
  const tensor = await tensorFor(ctx.image.bytes);
  // The settings the service gets: its defaults and this shell's environment (the started
  // servers inherit it too), so both sides run the same engine configuration.
  const engine = await createEngine({ ...engineOptionsFor(loadConfig(process.env, [])), modelPath: ctx.args.modelPath });
  try {
    const readyBy = Date.now() + 300_000;
    while (!engine.ready && Date.now() < readyBy) await sleep(100);
    if (ctx.args.warmupS > 0) await driveEngine(engine, tensor, connections, ctx.args.warmupS);
    return await driveEngine(engine, tensor, connections, ctx.args.durationS);
  } finally {
    await engine.close();
  }
}

export async function httpVsEngine(ctx: BenchContext): Promise<Measurement> {
  const connections = ctx.args.saturate ?? DEFAULT_SATURATING_CONNECTIONS;
  const { value: http } = await withServer(serverOptions(ctx, 'http-vs-engine'), (server) =>
    measureRun({ baseUrl: server.baseUrl, request: ctx.multipart, connections, ...timing(ctx), setting: 'HTTP multipart', body: 'multipart' }),
  );
  console.log(runLine(http.result));
  const engine = await engineImagesPerSecond(ctx, connections);
  console.log(`raw engine c=${connections}: ${fmt(engine.imagesPerSecond)} images/s, latency p50 ${fmt(engine.latencyMs.p50, 0)} ms p99 ${fmt(engine.latencyMs.p99, 0)} ms`);
  const engineErrors = Object.entries(engine.errors).map(([k, n]) => `${k}: ${n}`).join(', ');
  return {
    id: 1,
    title: `HTTP (multipart ${ctx.image.width}x${ctx.image.height} JPEG) vs the raw engine on pre-made tensors, ${connections} in flight`,
    lines: [
      {
        name: 'images/s',
        value: http.result.cannon.imagesPerSecond,
        unit: 'images/s',
        baseline: { name: 'raw engine', value: engine.imagesPerSecond },
        target: { comparison: '>=', bound: 0.9 },
      },
      { name: 'latency p99', value: http.result.cannon.latencyMs.p99, unit: 'ms', baseline: { name: 'raw engine', value: engine.latencyMs.p99 } },
    ],
    runs: [http.result],
    notes: [
      `HTTP: ${http.result.cannon.ok} 2xx, ${http.result.cannon.non2xx} non-2xx, ${http.result.cannon.errors} errors. Engine: ${engine.images} images${engineErrors ? `, errors ${engineErrors}` : ''}.`,
    ],
  };
}
