// `npm run soak -- --minutes 10 --rate-fraction 0.7` (opt-in, long): finds the service's
// capacity with a short saturating run, then holds a fixed request rate at that fraction of it,
// one autocannon window per minute, while sampling the server's memory (RSS from /proc, V8 heap
// and external memory from its /metrics). Writes JSON and Markdown to load/reports/soak-<time>.
// Loopback only; without --url it starts the service (full ResNet-50) and stops it afterwards.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_MODEL_PATH,
  DEFAULT_REPORT_DIR,
  UsageError,
  parseBaseUrl,
  parseIntInRange,
  runCli,
} from './lib/args.ts';
import { buildRequest } from './lib/bodies.ts';
import { runCannon } from './lib/cannon.ts';
import { loadImage } from './lib/image.ts';
import { machineInfo } from './lib/report.ts';
import { startServer } from './lib/server.ts';
import { soakMarkdown, summarizeSoak, type MemorySample, type MinuteWindow } from './lib/soak-report.ts';

const USAGE = `Usage: npm run soak -- [options]
  --minutes N          minutes at the fixed rate (default 10, at most 120)
  --rate-fraction F    fraction of the measured capacity to hold (default 0.7, 0.05 to 1)
  --connections N      connections for the probe and the soak (default 16)
  --probe-seconds N    length of the capacity probe (default 10)
  --sample-seconds N   memory sampling period (default 5)
  --url URL            a service already running on loopback (memory then from /metrics only)
  --model PATH         model of the started service (default ${DEFAULT_MODEL_PATH}, built if missing)
  --out DIR            report directory (default ${DEFAULT_REPORT_DIR})`;

interface SoakArgs {
  minutes: number;
  fraction: number;
  connections: number;
  probeSeconds: number;
  sampleSeconds: number;
  url: string | undefined;
  model: string;
  out: string;
  help: boolean;
}

function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const names = [
    'minutes',
    'rate-fraction',
    'connections',
    'probe-seconds',
    'sample-seconds',
    'url',
    'model',
    'out',
  ] as const;
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const int = (flag: string, fallback: number, max: number) =>
    typeof v[flag] === 'string' ? parseIntInRange(`--${flag}`, v[flag], { min: 1, max }) : fallback;
  const fraction = typeof v['rate-fraction'] === 'string' ? Number(v['rate-fraction']) : 0.7;
  if (!(fraction >= 0.05 && fraction <= 1))
    throw new UsageError(
      `Expected \`--rate-fraction\` to be a number from 0.05 to 1, got \`${String(v['rate-fraction'])}\``,
    );
  return {
    minutes: int('minutes', 10, 120),
    fraction,
    connections: int('connections', 16, 1024),
    probeSeconds: int('probe-seconds', 10, 120),
    sampleSeconds: int('sample-seconds', 5, 60),
    url: typeof v['url'] === 'string' ? parseBaseUrl(v['url']) : undefined,
    model: typeof v['model'] === 'string' ? v['model'] : DEFAULT_MODEL_PATH,
    out: typeof v['out'] === 'string' ? v['out'] : DEFAULT_REPORT_DIR,
    help: v['help'] === true,
  };
}

async function scrapeMemory(baseUrl: string): Promise<{ rss: number; heapUsed: number; external: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  return {
    rss: read('process_resident_memory_bytes'),
    heapUsed: read('nodejs_heap_size_used_bytes'),
    external: read('nodejs_external_memory_bytes'),
  };
}

async function main(): Promise<void> {
  const args = parseSoakArgs(process.argv.slice(2));
  if (args.help) return console.log(USAGE);
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

runCli(main, USAGE);
