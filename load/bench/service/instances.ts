// Benchmark 5 (opt-in: `--only 5`): MODEL_INSTANCES=2 (two sessions of one intra-op thread each,
// on two worker threads) against the default 1 (one session on every core), over HTTP, for the
// FP32 model and the int8 one: images/s and the server's CPU per image while saturated, and the
// latency of a lone client (1 connection). Both servers of a model are up at once but driven one
// at a time, their order alternating by round; each line's value and baseline are medians over rounds.
import {
  DEFAULT_SATURATING_CONNECTIONS,
  serverOptions,
  timing,
  type BenchContext,
  type Line,
  type Measurement,
} from './common.ts';
import { contendersOf, type Contender } from './http-vs-engine.ts';
import { warmJit } from './jit-warmup.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import type { RunResult } from '../../lib/report.ts';
import { readCpuSeconds, startServer, type ServerHandle } from '../../lib/server.ts';
import { median } from '../../lib/stats.ts';

export const INSTANCE_SETTINGS = [
  { label: 'MODEL_INSTANCES=2', env: { MODEL_INSTANCES: '2' } },
  { label: 'MODEL_INSTANCES=1 (default)', env: { MODEL_INSTANCES: '1' } },
] as const;

/** One window of one server: what the clients saw and the server's CPU per image. */
export interface InstanceWindow {
  readonly imagesPerSecond: number;
  readonly p50Ms: number;
  readonly cpuMsPerImage: number;
}

/** Per round, the two settings' windows at saturation and at 1 connection. */
export interface InstanceRound {
  readonly saturated: readonly [InstanceWindow, InstanceWindow];
  readonly lone: readonly [InstanceWindow, InstanceWindow];
}

interface Side {
  readonly server: ServerHandle;
  readonly label: string;
  readonly runs: RunResult[];
}

async function measureWindow(
  ctx: BenchContext,
  side: Side,
  connections: number,
  warm: boolean,
): Promise<InstanceWindow> {
  let cpu0 = 0;
  let cpuS = 0;
  const { result } = await measureRun(
    {
      baseUrl: side.server.baseUrl,
      request: ctx.multipart,
      connections,
      ...(warm ? { ...timing(ctx), warmupS: 0 } : timing(ctx)),
      setting: side.label,
      body: 'multipart',
    },
    undefined,
    {
      started: () => (cpu0 = readCpuSeconds(side.server.pid)),
      ended: () => (cpuS = readCpuSeconds(side.server.pid) - cpu0),
    },
  );
  console.log(`  ${runLine(result)}`);
  side.runs.push(result);
  const images = result.cannon.imagesPerSecond * result.cannon.durationS;
  return {
    imagesPerSecond: result.cannon.imagesPerSecond,
    p50Ms: result.cannon.latencyMs.p50,
    cpuMsPerImage: images > 0 ? (cpuS * 1000) / images : Number.NaN,
  };
}

/** The lines of one model: MODEL_INSTANCES=2 as the value, 1 as the baseline, medians over rounds. */
export function instanceLines(model: string, connections: number, rounds: readonly InstanceRound[]): Line[] {
  const line = (name: string, unit: string, pick: (r: InstanceRound) => readonly [number, number]): Line => {
    const pairs = rounds.map(pick);
    return {
      name: `${model} ${name}`,
      value: median(pairs.map(([two]) => two)),
      unit,
      baseline: { name: INSTANCE_SETTINGS[1].label, value: median(pairs.map(([, one]) => one)) },
    };
  };
  return [
    line(`images/s at ${connections} connections`, 'images/s', (r) => [
      r.saturated[0].imagesPerSecond,
      r.saturated[1].imagesPerSecond,
    ]),
    line(`server CPU per image at ${connections} connections`, 'ms', (r) => [
      r.saturated[0].cpuMsPerImage,
      r.saturated[1].cpuMsPerImage,
    ]),
    line('latency p50 at 1 connection', 'ms', (r) => [r.lone[0].p50Ms, r.lone[1].p50Ms]),
  ];
}

async function compare(
  ctx: BenchContext,
  contender: Contender,
  connections: number,
): Promise<{ lines: Line[]; runs: RunResult[] }> {
  const sides: Side[] = [];
  try {
    for (const setting of INSTANCE_SETTINGS) {
      const log = `instances-${contender.label.toLowerCase()}-${setting.env.MODEL_INSTANCES}`;
      const server = await startServer(serverOptions(ctx, log, setting.env, contender.modelPath));
      sides.push({ server, label: `${contender.label} ${setting.label}`, runs: [] });
    }
    for (const side of sides) await warmJit(ctx, side.server, connections, side.label);
    const rounds: InstanceRound[] = [];
    for (let round = 0; round < ctx.args.rounds; round++) {
      console.log(`round ${round + 1}`);
      // Even rounds drive MODEL_INSTANCES=2 first, odd rounds the default first.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      const saturated: InstanceWindow[] = [];
      const lone: InstanceWindow[] = [];
      for (const i of order) {
        const side = sides[i] as Side;
        saturated[i] = await measureWindow(ctx, side, connections, round > 0);
        lone[i] = await measureWindow(ctx, side, 1, true);
      }
      rounds.push({
        saturated: [saturated[0], saturated[1]] as [InstanceWindow, InstanceWindow],
        lone: [lone[0], lone[1]] as [InstanceWindow, InstanceWindow],
      });
    }
    return { lines: instanceLines(contender.label, connections, rounds), runs: sides.flatMap((s) => s.runs) };
  } finally {
    for (const side of sides) await side.server.stop();
  }
}

export async function instances(ctx: BenchContext): Promise<Measurement> {
  const connections = ctx.args.saturate ?? DEFAULT_SATURATING_CONNECTIONS;
  const lines: Line[] = [];
  const runs: RunResult[] = [];
  for (const contender of contendersOf(ctx.args)) {
    const result = await compare(ctx, contender, connections);
    lines.push(...result.lines);
    runs.push(...result.runs);
  }
  return {
    id: 5,
    title: `MODEL_INSTANCES=2 vs 1 over HTTP (multipart), ${connections} connections and 1, ${ctx.args.rounds} alternating rounds`,
    lines,
    runs,
    notes: [
      "MODEL_INSTANCES=2 runs two sessions of one intra-op thread each; 1 (the default) one session with a thread per core. No target: the choice between throughput and a lone image's latency is the deployment's.",
    ],
  };
}
