// Benchmark 3: is the event loop free while the model is busy? A second autocannon instance asks
// GET /v2/health/live at a low fixed rate, first on the idle server (the baseline), then while
// the first instance saturates POST /predict. Target: p99 < 50 ms while saturated.
import {
  DEFAULT_SATURATING_CONNECTIONS,
  serverOptions,
  timing,
  type BenchContext,
  type Measurement,
} from './common.ts';
import { runCannon } from '../../lib/cannon.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import { fmt } from '../../lib/report.ts';
import { withServer } from '../../lib/server.ts';

export const HEALTH_PROBE = { path: '/v2/health/live', ratePerSecond: 20, connections: 1 } as const;
export const HEALTH_P99_TARGET_MS = 50;

function probe(baseUrl: string, durationS: number) {
  return runCannon({
    baseUrl,
    request: { method: 'GET', path: HEALTH_PROBE.path, images: 0 },
    connections: HEALTH_PROBE.connections,
    overallRate: HEALTH_PROBE.ratePerSecond,
    durationS,
    maxSeconds: durationS + 10,
    timeoutS: 10,
  });
}

export async function healthWhileSaturated(ctx: BenchContext): Promise<Measurement> {
  const connections = ctx.args.saturate ?? DEFAULT_SATURATING_CONNECTIONS;
  const { value } = await withServer(serverOptions(ctx, 'health'), async (server) => {
    const idle = await probe(server.baseUrl, ctx.args.durationS);
    // The probe starts with the measured window, after measureRun's warm-up has saturated the server.
    const saturatedProbe = new Promise<Awaited<ReturnType<typeof probe>>>((resolve, reject) => {
      setTimeout(
        () => probe(server.baseUrl, Math.max(1, ctx.args.durationS - 1)).then(resolve, reject),
        ctx.args.warmupS * 1000 + 500,
      );
    });
    const load = await measureRun({
      baseUrl: server.baseUrl,
      request: ctx.multipart,
      connections,
      ...timing(ctx),
      setting: 'saturating load',
      body: 'multipart',
    });
    return { idle, saturated: await saturatedProbe, load };
  });
  console.log(runLine(value.load.result));
  const p99 = value.saturated.summary.latencyMs.p99;
  const idleP99 = value.idle.summary.latencyMs.p99;
  console.log(`health p99: ${fmt(p99)} ms saturated, ${fmt(idleP99)} ms idle`);
  return {
    id: 3,
    title: `p99 of GET ${HEALTH_PROBE.path} (${HEALTH_PROBE.ratePerSecond}/s) while ${connections} connections saturate POST /predict`,
    lines: [
      {
        name: 'health p99 while saturated',
        value: p99,
        unit: 'ms',
        target: { comparison: '<', bound: HEALTH_P99_TARGET_MS },
      },
      { name: 'health p99 saturated vs idle', value: p99, unit: 'ms', baseline: { name: 'idle', value: idleP99 } },
      {
        name: 'health p50 while saturated',
        value: value.saturated.summary.latencyMs.p50,
        unit: 'ms',
        baseline: { name: 'idle', value: value.idle.summary.latencyMs.p50 },
      },
    ],
    runs: [value.load.result],
    notes: [
      `Health probes: ${value.saturated.summary.ok} 2xx of ${value.saturated.summary.responses} while saturated (${value.saturated.summary.errors} errors); ` +
        `${value.idle.summary.ok} of ${value.idle.summary.responses} idle.`,
    ],
  };
}
