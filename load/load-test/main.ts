// `npm run load`: autocannon against the service (or, with --protocol grpc, ModelInfer calls on
// its gRPC API), on loopback only, bounded in time and requests.
// Without --url it starts the service itself (127.0.0.1, a free port, the full ResNet-50), once
// per --vary value, and stops it afterwards. Prints each run and writes JSON + Markdown (+ SVG
// when several runs are compared) to load/reports/.
import { join } from 'node:path';
import { buildRequest, type PreparedRequest } from '../lib/bodies.ts';
import { commandLine } from '../lib/cli.ts';
import { loadImage, type LoadImage } from '../lib/image.ts';
import { grpcRequest, grpcRunner } from '../lib/grpc-load.ts';
import { measureRun, runLine, type Runner } from '../lib/measure.ts';
import { buildReport, machineInfo, reportBaseName, writeReport, type RunResult } from '../lib/report.ts';
import { withServer } from '../lib/server.ts';
import { LOAD_COMMAND, settingsOf, toLoadArgs, type LoadArgs, type Setting } from './options.ts';

async function runSeries(
  args: LoadArgs,
  baseUrl: string,
  setting: Setting,
  request: PreparedRequest,
  runner?: Runner,
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const connections of args.connections) {
    const { result } = await measureRun(
      {
        baseUrl,
        request,
        connections,
        ...(args.amount === undefined ? { durationS: args.durationS ?? 10 } : { amount: args.amount }),
        maxSeconds: args.amount === undefined ? (args.durationS ?? 10) + args.timeoutS : args.maxSeconds,
        timeoutS: args.timeoutS,
        warmupS: args.warmupS,
        setting: setting.label,
        body: args.protocol === 'grpc' ? `grpc ${args.body}` : args.body,
      },
      runner,
    );
    console.log(runLine(result));
    results.push(result);
  }
  return results;
}

async function prepareRequest(args: LoadArgs, image: LoadImage): Promise<PreparedRequest> {
  // Loaded only for tensor bodies: the other kinds send the encoded image as it is.
  const tensor =
    args.body === 'v2-binary' ? await (await import('../lib/tensor.ts')).tensorFor(image.bytes) : undefined;
  const input = {
    image: image.bytes,
    imageName: image.name,
    imagesPerRequest: args.imagesPerRequest,
    modelName: args.modelName,
    ...(tensor === undefined ? {} : { tensor }),
  };
  if (args.protocol === 'grpc') return grpcRequest(args.body === 'v2-binary' ? 'tensor' : 'images', input);
  return buildRequest(args.body, input);
}

async function main(args: LoadArgs, argv: readonly string[]): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  const image = await loadImage(args.image);
  const request = await prepareRequest(args, image);
  console.log(
    `${request.method} ${request.path}: ${request.body.length} bytes, ${request.images} image(s) of ${image.name} (${image.width}x${image.height}, ${image.source})`,
  );
  const runs: RunResult[] = [];
  for (const [i, setting] of settingsOf(args).entries()) {
    if (args.url !== undefined) {
      const runner =
        args.grpcPort === undefined ? undefined : grpcRunner(`${new URL(args.url).hostname}:${args.grpcPort}`);
      runs.push(...(await runSeries(args, args.url, setting, request, runner)));
      continue;
    }
    const logFile = join(args.outDir, `${reportBaseName({ kind: 'load', startedAt })}-server-${i}.log`);
    console.log(`starting the service (${setting.label}); its log: ${logFile}`);
    const { value, exitCode } = await withServer({ modelPath: args.modelPath, env: setting.env, logFile }, (server) =>
      runSeries(
        args,
        server.baseUrl,
        setting,
        request,
        args.protocol === 'grpc' ? grpcRunner(server.grpcAddress) : undefined,
      ),
    );
    runs.push(...value);
    if (exitCode !== 0) console.warn(`the service exited with code ${exitCode}; see ${logFile}`);
  }
  const meta = {
    kind: 'load' as const,
    title: `Load: ${args.protocol === 'grpc' ? 'gRPC ' : ''}${args.body} ${request.path}`,
    startedAt,
    command: `npm run load -- ${argv.join(' ')}`.trim(),
    target: args.url ?? `started on 127.0.0.1 with ${args.modelPath}`,
    image: {
      name: image.name,
      width: image.width,
      height: image.height,
      bytes: image.bytes.length,
      source: image.source,
    },
    machine,
  };
  const files = await writeReport(args.outDir, meta, buildReport(meta, runs));
  console.log(`reports: ${files.join(', ')}`);
}

const argv = process.argv.slice(2);
await main(commandLine(LOAD_COMMAND, toLoadArgs, argv), argv);
