// `npm run bench:grpc`: the same image classified over the three transports at the same
// concurrency, side by side on one server: gRPC ModelInfer with FP32 raw_input_contents, REST V2
// binary tensors (the same tensor), and REST POST /predict multipart (the encoded image, which the
// server decodes and preprocesses). Rounds alternate the order; per round it measures images/s,
// p50/p99 latency, and the CPU time per request of the server process (from /proc) and of this
// load generator, then reports the median over rounds and the ratio to REST binary tensors.
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { buildRequest, type PreparedRequest } from '../lib/bodies.ts';
import { command, commandLine } from '../lib/cli.ts';
import { grpcRequest, grpcRunner } from '../lib/grpc-load.ts';
import { loadImage } from '../lib/image.ts';
import { measureRun, type Runner } from '../lib/measure.ts';
import { buildReport, fmt, machineInfo, reportBaseName, writeReport, type RunResult } from '../lib/report.ts';
import { DEFAULT_MODEL_PATH, readCpuSeconds, withServer, type ServerHandle } from '../lib/server.ts';
import { median } from '../lib/stats.ts';
import { tensorFor } from '../lib/tensor.ts';
import { parseEnvPairs } from '../load-test/options.ts';

const args = commandLine(
  command({
    name: 'npm run bench:grpc',
    summary: 'gRPC vs REST binary tensors vs REST multipart images at the same concurrency, alternating rounds.',
    flags: {
      connections: { kind: 'int', short: 'c', min: 1, max: 256, default: 8, help: 'concurrent requests' },
      duration: { kind: 'int', short: 'd', value: 'S', min: 1, max: 120, default: 6, help: 'seconds per window' },
      rounds: { kind: 'int', min: 1, max: 20, default: 3, help: 'rounds of the three, in alternating order' },
      model: { kind: 'string', value: 'PATH', default: DEFAULT_MODEL_PATH, help: 'model of the started server' },
      image: { kind: 'string', value: 'FILE', help: 'image to send', defaultText: 'the 500x375 JPEG fixture' },
      env: { kind: 'repeated', short: 'e', help: 'environment of the started server (K=V)' },
      out: { kind: 'string', value: 'DIR', default: 'load/reports', help: 'report directory' },
    },
  }),
  (v) => v,
  process.argv.slice(2),
);

interface Transport {
  readonly name: string;
  readonly request: PreparedRequest;
  readonly runner?: Runner;
}

interface Sample {
  readonly result: RunResult;
  readonly serverCpuMsPerRequest: number;
  readonly clientCpuMsPerRequest: number;
}

const selfCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

async function window(server: ServerHandle, transport: Transport, durationS: number, connections: number) {
  const [server0, self0] = [readCpuSeconds(server.pid), selfCpuSeconds()];
  const { result } = await measureRun(
    {
      baseUrl: server.baseUrl,
      request: transport.request,
      connections,
      durationS,
      maxSeconds: durationS + 30,
      timeoutS: 30,
      warmupS: 0,
      setting: transport.name,
      body: transport.name,
    },
    transport.runner,
  );
  const requests = Math.max(1, result.cannon.responses);
  return {
    result,
    serverCpuMsPerRequest: ((readCpuSeconds(server.pid) - server0) * 1000) / requests,
    clientCpuMsPerRequest: ((selfCpuSeconds() - self0) * 1000) / requests,
  };
}

function line(name: string, samples: readonly Sample[], baseline: readonly Sample[]): string {
  const m = (pick: (s: Sample) => number, of = samples) => median(of.map(pick));
  const ips = m((s) => s.result.cannon.imagesPerSecond);
  const cpu = m((s) => s.serverCpuMsPerRequest);
  const ratio = (a: number, b: number) => fmt(a / b, 2);
  return (
    `${name}: ${fmt(ips)} images/s (x${ratio(
      ips,
      m((s) => s.result.cannon.imagesPerSecond, baseline),
    )}), ` +
    `p50 ${fmt(
      m((s) => s.result.cannon.latencyMs.p50),
      0,
    )} ms, p99 ${fmt(
      m((s) => s.result.cannon.latencyMs.p99),
      0,
    )} ms, ` +
    `server CPU ${fmt(cpu, 2)} ms/request (x${ratio(
      cpu,
      m((s) => s.serverCpuMsPerRequest, baseline),
    )}), ` +
    `load generator ${fmt(
      m((s) => s.clientCpuMsPerRequest),
      2,
    )} ms/request, ` +
    `non-OK ${samples.reduce((n, s) => n + s.result.cannon.non2xx + s.result.cannon.errors, 0)}`
  );
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  const image = await loadImage(args.image);
  const modelName = 'resnet50';
  const input = { image: image.bytes, imageName: image.name, imagesPerRequest: 1, modelName };
  const tensor = await tensorFor(image.bytes);
  const env = parseEnvPairs(args.env);
  const logFile = join(args.out, `${reportBaseName({ kind: 'bench', startedAt })}-grpc-server.log`);
  const { value: samples } = await withServer(
    { modelPath: args.model, env: { MODEL_NAME: modelName, LOG_LEVEL: 'warn', ...env }, logFile },
    async (server) => {
      const transports: Transport[] = [
        {
          name: 'gRPC ModelInfer, FP32 raw contents',
          request: grpcRequest('tensor', { ...input, tensor }),
          runner: grpcRunner(server.grpcAddress),
        },
        { name: 'REST V2 binary tensor', request: buildRequest('v2-binary', { ...input, tensor }) },
        { name: 'REST /predict multipart image', request: buildRequest('multipart', input) },
      ];
      for (const t of transports) await window(server, t, 2, args.connections); // warm-up, not kept
      const byName = new Map<string, Sample[]>(transports.map((t) => [t.name, []]));
      for (let round = 0; round < args.rounds; round++) {
        const order = transports.map((_, i) => transports[(i + round) % transports.length]!);
        for (const t of order) {
          const sample = await window(server, t, args.duration, args.connections);
          byName.get(t.name)!.push(sample);
          console.log(`round ${round + 1} ${t.name}: ${fmt(sample.result.cannon.imagesPerSecond)} images/s`);
        }
      }
      return byName;
    },
  );
  const baseline = samples.get('REST V2 binary tensor')!;
  const lines = [...samples].map(([name, list]) => line(name, list, baseline));
  const conditions = `${args.connections} concurrent, ${args.rounds} rounds of ${args.duration} s, model ${args.model}; ${machine.cpuModel}, ${machine.cpus} CPUs, load average ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')} at the end`;
  for (const l of [...lines, conditions]) console.log(l);
  const meta = {
    kind: 'bench' as const,
    title: 'gRPC vs REST binary tensors vs REST multipart images',
    startedAt,
    command: `npm run bench:grpc -- ${process.argv.slice(2).join(' ')}`.trim(),
    target: `started on 127.0.0.1 with ${args.model}`,
    machine,
    notes: [...lines, conditions],
  };
  const runs = [...samples.values()].flat().map((s) => s.result);
  const files = await writeReport(args.out, meta, buildReport(meta, runs));
  console.log(`reports: ${files.join(', ')}`);
}

await main();
