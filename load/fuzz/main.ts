// `npm run fuzz -- --seed N --iterations N`: seeded, reproducible mutation of valid JPEG, PNG,
// multipart, JSON and V2 bodies against a real server on 127.0.0.1 (started here on the tiny test
// model unless --url names one). Checks every answer (no crash, no 500, registry codes, JSON) and
// the server's RSS against its baseline after the run. Findings are saved one file per case
// (replayable byte for byte) and listed in a JSON report under load/reports/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TINY_MODEL_OPTIONS } from '../../test/global-setup.ts';
import { command, commandLine, type FlagValues } from '../lib/cli.ts';
import { DEFAULT_REPORT_DIR, machineInfo } from '../lib/report.ts';
import { startServer, type ServerHandle } from '../lib/server.ts';
import { makeCase } from './mutate.ts';
import { buildCorpus, runPool, savedCase, send, type Outcome } from './requests.ts';

const TINY_MODEL = 'load/reports/fuzz/tiny-resnet.onnx';
// A body that busboy never finishes parsing ends in 408 after BODY_TIMEOUT_MS (predict-bodies.ts):
// 5 s keeps such cases inside the per-case timeout.
const SERVER_ENV = { LOG_LEVEL: 'warn', BODY_TIMEOUT_MS: '5000' } as const;

const FUZZ_COMMAND = command({
  name: 'npm run fuzz',
  summary:
    'Seeded, reproducible mutations of valid bodies against a server on loopback; findings and a report go to --out.',
  flags: {
    seed: { kind: 'int', min: 0, max: 2 ** 32 - 1, default: 1, help: 'run seed; the same seed makes the same cases' },
    iterations: { kind: 'int', min: 1, max: 100_000, default: 500, help: 'cases to send' },
    concurrency: { kind: 'int', min: 1, max: 64, default: 4, help: 'requests in flight' },
    'timeout-ms': {
      kind: 'int',
      min: 1,
      max: 120_000,
      default: 15_000,
      help: 'a case with no answer after this is a finding',
    },
    only: { kind: 'int', min: 0, max: 10_000_000, help: 'send case N alone and print it: a replay' },
    url: { kind: 'url', help: 'a service already running on loopback', defaultText: 'start one on the tiny model' },
    model: {
      kind: 'string',
      value: 'PATH',
      default: TINY_MODEL,
      help: 'model of the started service; the tiny test model is built once',
    },
    out: { kind: 'string', value: 'DIR', default: DEFAULT_REPORT_DIR, help: 'report directory' },
  },
});

const stamp = (startedAt: Date): string => `fuzz-${startedAt.toISOString().replace(/[:.]/g, '-')}`;

async function ensureTinyModel(path: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  if (path !== TINY_MODEL || existsSync(path)) return;
  const { buildModel, writeModel } = await import('../../src/model/build.ts');
  await mkdir(join(path, '..'), { recursive: true });
  await writeModel(path, await buildModel(TINY_MODEL_OPTIONS));
}

/** The server's own memory figures from prom-client's default metrics, MiB. */
async function processMemory(baseUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const read = (name: string) =>
    Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 2 ** 20);
  return {
    rss: read('process_resident_memory_bytes'),
    heapUsed: read('nodejs_heap_size_used_bytes'),
    external: read('nodejs_external_memory_bytes'),
  };
}

/** Valid requests until the process has settled, then its RSS (KiB). */
async function baselineRss(server: ServerHandle, warm: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 30; i++) await warm();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return server.rssKiB();
}

async function main(args: FlagValues<typeof FUZZ_COMMAND.flags>): Promise<void> {
  const startedAt = new Date();
  const dir = join(args.out, `${stamp(startedAt)}-cases`);
  const logFile = join(args.out, `${stamp(startedAt)}-server.log`);
  if (args.url === undefined) await ensureTinyModel(args.model);
  let server =
    args.url === undefined ? await startServer({ modelPath: args.model, env: SERVER_ENV, logFile }) : undefined;
  const baseUrl = args.url ?? server?.baseUrl ?? '';
  const corpus = await buildCorpus('resnet50');

  if (args.only !== undefined) {
    const c = makeCase(corpus, args.seed, args.only);
    const outcome = await send(baseUrl, c, args['timeout-ms']);
    console.log(savedCase(args.seed, c, outcome));
    await server?.stop();
    return;
  }

  const rssBefore =
    server === undefined ? undefined : await baselineRss(server, () => send(baseUrl, corpus.png, args['timeout-ms']));
  const memoryBefore = await processMemory(baseUrl);
  let rssPeak = rssBefore ?? 0;
  const sampler = setInterval(() => server?.alive() && (rssPeak = Math.max(rssPeak, server.rssKiB())), 250);
  const statuses = new Map<string, number>();
  const findings: { index: number; finding: string; file: string }[] = [];
  let crashes = 0;
  const started = performance.now();
  const run = runPool(args.iterations, args.concurrency, async (index) => {
    const c = makeCase(corpus, args.seed, index);
    let outcome: Outcome = await send(baseUrl, c, args['timeout-ms']);
    if (server !== undefined && !server.alive()) {
      crashes += 1;
      outcome = { ...outcome, finding: `server exited (${outcome.finding ?? outcome.status})` };
      server = await startServer({ modelPath: args.model, env: SERVER_ENV, logFile });
    }
    const key = `${outcome.status}${outcome.code === undefined ? '' : ` ${outcome.code}`}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (outcome.finding !== undefined) {
      await mkdir(dir, { recursive: true });
      const file = join(dir, `case-${index}.json`);
      await writeFile(file, savedCase(args.seed, c, outcome));
      findings.push({ index, finding: outcome.finding, file });
      console.log(`case ${index} (${c.kind}: ${c.mutations.join('; ')}): ${outcome.finding}`);
    }
    if ((index + 1) % 250 === 0) console.log(`${index + 1}/${args.iterations} cases, ${findings.length} findings`);
  });
  // A bug in the fuzzer itself must not leave the server running.
  await run.catch(async (err: unknown) => {
    clearInterval(sampler);
    await server?.stop();
    throw err;
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  let rssAfter: number | undefined;
  if (server !== undefined) {
    // As many valid requests as the baseline had: garbage from the run is collected on the way.
    rssAfter = await baselineRss(server, () => send(baseUrl, corpus.png, args['timeout-ms']));
  }
  const memoryAfter = server?.alive() === false ? undefined : await processMemory(baseUrl);
  const exitCode = await server?.stop();

  const byStatus = Object.fromEntries([...statuses].sort(([a], [b]) => a.localeCompare(b)));
  const report = {
    kind: 'fuzz',
    startedAt: startedAt.toISOString(),
    machine: machineInfo(),
    seed: args.seed,
    iterations: args.iterations,
    concurrency: args.concurrency,
    seconds: Math.round(seconds * 10) / 10,
    byStatus,
    findings,
    crashes,
    serverExitCode: exitCode,
    memoryMiB: { before: memoryBefore, after: memoryAfter },
    rssKiB:
      rssBefore === undefined
        ? undefined
        : {
            before: rssBefore,
            peak: rssPeak,
            after: rssAfter,
            afterOverBefore: rssAfter === undefined ? undefined : Math.round((rssAfter / rssBefore) * 100) / 100,
          },
  };
  await mkdir(args.out, { recursive: true });
  const reportFile = join(args.out, `${stamp(startedAt)}.json`);
  await writeFile(reportFile, JSON.stringify(report, null, 2));
  console.log(
    `${args.iterations} cases in ${report.seconds} s (seed ${args.seed}): ${findings.length} findings, ${crashes} crashes`,
  );
  console.log(
    `answers: ${Object.entries(byStatus)
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
  );
  if (report.rssKiB)
    console.log(
      `server RSS: ${report.rssKiB.before} KiB before, ${report.rssKiB.peak} peak, ${report.rssKiB.after} after (x${report.rssKiB.afterOverBefore})`,
    );
  console.log(`server memory (MiB) before: ${JSON.stringify(memoryBefore)}, after: ${JSON.stringify(memoryAfter)}`);
  console.log(`report: ${reportFile}`);
  if (findings.length > 0 || crashes > 0 || exitCode !== 0) process.exitCode = 1;
}

await main(commandLine(FUZZ_COMMAND));
