// `npm run soak -- --minutes 10 --rate-fraction 0.7` (opt-in, long): finds the service's
// capacity with a short saturating run, then holds a fixed request rate at that fraction of it,
// one autocannon window per minute, while sampling the server's memory (RSS from /proc, V8 heap
// and external memory from its /metrics). Writes JSON and Markdown to load/reports/soak-<time>.
// Loopback only; without --url it starts the service (full ResNet-50) and stops it afterwards.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRequest } from '../lib/bodies.ts';
import { runCannon } from '../lib/cannon.ts';
import { command, commandLine, type FlagValues } from '../lib/cli.ts';
import { loadImage } from '../lib/image.ts';
import { DEFAULT_REPORT_DIR, machineInfo } from '../lib/report.ts';
import { DEFAULT_MODEL_PATH, startServer } from '../lib/server.ts';
import { soakMarkdown, summarizeSoak, type MemorySample, type MinuteWindow } from './report.ts';

const SOAK_COMMAND = command({
  name: 'npm run soak',
  summary:
    "Finds the capacity with a short saturating run, then holds a fixed rate at a fraction of it while sampling\nthe server's memory, one window per minute. Loopback only; reports go to --out.",
  flags: {
    minutes: { kind: 'int', min: 1, max: 120, default: 10, help: 'minutes at the fixed rate' },
    'rate-fraction': {
      kind: 'number',
      min: 0.05,
      max: 1,
      default: 0.7,
      help: 'fraction of the measured capacity to hold',
    },
    connections: { kind: 'int', min: 1, max: 1024, default: 16, help: 'connections for the probe and the soak' },
    'probe-seconds': { kind: 'int', min: 1, max: 120, default: 10, help: 'length of the capacity probe' },
    'sample-seconds': { kind: 'int', min: 1, max: 60, default: 5, help: 'memory sampling period' },
    url: {
      kind: 'url',
      help: 'a service already running on loopback; memory then comes from /metrics only',
      defaultText: 'start one on 127.0.0.1',
    },
    model: {
      kind: 'string',
      value: 'PATH',
      default: DEFAULT_MODEL_PATH,
      help: 'model of the started service, built if missing',
    },
    out: { kind: 'string', value: 'DIR', default: DEFAULT_REPORT_DIR, help: 'report directory' },
  },
});

/** The flags under the names the soak reports under. */
function toSoakArgs(v: FlagValues<typeof SOAK_COMMAND.flags>) {
  return {
    minutes: v.minutes,
    fraction: v['rate-fraction'],
    connections: v.connections,
    probeSeconds: v['probe-seconds'],
    sampleSeconds: v['sample-seconds'],
    url: v.url,
    model: v.model,
    out: v.out,
  };
}

type SoakArgs = ReturnType<typeof toSoakArgs>;

async function scrapeMemory(baseUrl: string): Promise<{ rss: number; heapUsed: number; external: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  return {
    rss: read('process_resident_memory_bytes'),
    heapUsed: read('nodejs_heap_size_used_bytes'),
    external: read('nodejs_external_memory_bytes'),
  };
}

async function main(args: SoakArgs): Promise<void> {
  const startedAt = new Date();
  const base = join(args.out, `soak-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  const server =
    args.url === undefined
      ? await startServer({ modelPath: args.model, env: {}, logFile: `${base}-server.log` })
      : undefined;
  const baseUrl = args.url ?? server?.baseUrl ?? '';
  try {
    const image = await loadImage(undefined);
    const request = buildRequest('multipart', {
      image: image.bytes,
      imageName: image.name,
      imagesPerRequest: 1,
      modelName: 'resnet50',
    });
    const cannon = { baseUrl, request, connections: args.connections, timeoutS: 30, maxSeconds: 600 };
    await runCannon({ ...cannon, durationS: 3 });
    const probe = await runCannon({ ...cannon, durationS: args.probeSeconds });
    const capacity = probe.summary.requestsPerSecond;
    const rate = Math.max(1, Math.round(capacity * args.fraction * 10) / 10);
    console.log(
      `capacity ${capacity.toFixed(1)} req/s (${args.connections} connections, ${args.probeSeconds} s); holding ${rate} req/s for ${args.minutes} min`,
    );

    const samples: MemorySample[] = [];
    const soakStart = performance.now();
    const sample = async (): Promise<void> => {
      const m = await scrapeMemory(baseUrl);
      samples.push({
        t: (performance.now() - soakStart) / 1000,
        rssMiB: server === undefined ? m.rss : server.rssKiB() / 1024,
        heapUsedMiB: m.heapUsed,
        externalMiB: m.external,
      });
    };
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), args.sampleSeconds * 1000);
    const windows: MinuteWindow[] = [];
    try {
      for (let minute = 0; minute < args.minutes; minute++) {
        const { summary } = await runCannon({ ...cannon, durationS: 60, overallRate: rate });
        windows.push({
          minute,
          requestsPerSecond: summary.requestsPerSecond,
          ok: summary.ok,
          non2xx: summary.non2xx,
          errors: summary.errors,
          statusCodes: summary.statusCodes,
          latencyMs: summary.latencyMs,
        });
        const w = summary.latencyMs;
        console.log(
          `minute ${minute + 1}: ${summary.requestsPerSecond.toFixed(1)} req/s, ${summary.non2xx} non-2xx, ${summary.errors} errors, p50 ${w.p50} ms, p99 ${w.p99} ms; RSS ${samples.at(-1)?.rssMiB.toFixed(0)} MiB`,
        );
      }
    } finally {
      clearInterval(sampler);
    }
    await sample();
    const summary = summarizeSoak(samples, windows);
    const lines = [
      `started ${startedAt.toISOString()}, ${args.minutes} min at ${rate} req/s = ${args.fraction} x capacity ${capacity.toFixed(1)} req/s (${args.connections} connections)`,
      `body: multipart ${image.name} (${image.width}x${image.height}); model ${args.url === undefined ? args.model : `at ${args.url}`}`,
      `machine: ${JSON.stringify(machineInfo())}`,
    ];
    await mkdir(args.out, { recursive: true });
    await writeFile(
      `${base}.json`,
      JSON.stringify(
        { kind: 'soak', args, capacity, rate, machine: machineInfo(), windows, samples, summary },
        null,
        2,
      ),
    );
    await writeFile(`${base}.md`, soakMarkdown({ title: 'Soak', lines }, windows, summary));
    const { rssMiB: r, heapUsedMiB: h, p99Ms: p } = summary;
    console.log(
      `RSS ${r.first} -> ${r.last} MiB (x${r.ratio}, ${r.perMinute} MiB/min); heap ${h.first} -> ${h.last} MiB; p99 ${p.first} -> ${p.last} ms`,
    );
    console.log(
      `${summary.requests} requests, ${summary.non2xx} non-2xx, ${summary.errors} errors; report: ${base}.md`,
    );
  } finally {
    await server?.stop();
  }
}

await main(commandLine(SOAK_COMMAND, toSoakArgs));
