// Benchmark 2: dynamic batching on (the defaults) against off (MAX_BATCH_SIZE=1) at 1, 8 and 32
// connections: images/s and p99, each as on/off. One server per setting, the same connection
// counts in the same order. At 1 connection batching cannot help (there is never company), so
// the ratio there shows what the batching delay costs.
import { serverOptions, timing, type BenchContext, type Line, type Measurement } from './common.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import { runsChart, type RunResult } from '../../lib/report.ts';
import { withServer } from '../../lib/server.ts';

export const BATCHING_SETTINGS = [
  { label: 'batching on (defaults)', env: {} },
  { label: 'batching off (MAX_BATCH_SIZE=1)', env: { MAX_BATCH_SIZE: '1' } },
] as const;

async function curve(ctx: BenchContext, label: string, env: Readonly<Record<string, string>>): Promise<RunResult[]> {
  const logLabel = env['MAX_BATCH_SIZE'] === undefined ? 'batching-on' : 'batching-off';
  const { value } = await withServer(serverOptions(ctx, logLabel, env), async (server) => {
    const runs: RunResult[] = [];
    for (const connections of ctx.args.connections) {
      const { result } = await measureRun({
        baseUrl: server.baseUrl,
        request: ctx.multipart,
        connections,
        ...timing(ctx),
        setting: label,
        body: 'multipart',
      });
      console.log(runLine(result));
      runs.push(result);
    }
    return runs;
  });
  return value;
}

/** On/off lines per connection count: images/s (on/off, higher is better) and p99 (on/off). */
export function batchingLines(on: readonly RunResult[], off: readonly RunResult[]): Line[] {
  const lines: Line[] = [];
  for (const a of on) {
    const b = off.find((r) => r.cannon.connections === a.cannon.connections);
    if (b === undefined) continue;
    const c = a.cannon.connections;
    lines.push(
      {
        name: `images/s at ${c} connections`,
        value: a.cannon.imagesPerSecond,
        unit: 'images/s',
        baseline: { name: 'off', value: b.cannon.imagesPerSecond },
      },
      {
        name: `latency p99 at ${c} connections`,
        value: a.cannon.latencyMs.p99,
        unit: 'ms',
        baseline: { name: 'off', value: b.cannon.latencyMs.p99 },
      },
    );
  }
  return lines;
}

export async function batchingOnOff(ctx: BenchContext): Promise<Measurement & { chart: string }> {
  const [on, off] = [
    await curve(ctx, BATCHING_SETTINGS[0].label, BATCHING_SETTINGS[0].env),
    await curve(ctx, BATCHING_SETTINGS[1].label, BATCHING_SETTINGS[1].env),
  ];
  return {
    id: 2,
    title: `Batching on (defaults) vs off (MAX_BATCH_SIZE=1) at ${ctx.args.connections.join(', ')} connections`,
    lines: batchingLines(on, off),
    runs: [...on, ...off],
    chart: runsChart('Batching on vs off: latency p99 vs throughput', [...on, ...off]),
  };
}
