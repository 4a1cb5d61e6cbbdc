// Starts the service for a load run: on 127.0.0.1, a free port, the given model and env; waits
// until /v2/health/ready answers 200; stops it with SIGTERM (SIGKILL after a bound). The child is
// `node --import tsx src/server/main.ts` rather than `npx tsx ...`, so the pid we hold is the
// server's own and /proc/<pid>/status gives its RSS (npx and tsx's CLI would sit in between).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { manifestPathFor } from '../../src/model/manifest.ts';

/**
 * The flags between `node` and the entry point in an npm start script, e.g. --enable-source-maps.
 * Early commits started the service with `tsx ENTRY`, which passes node no flags.
 */
export function startFlags(startScript: string): string[] {
  if (/^tsx\s+\S+$/.test(startScript.trim())) return [];
  const command = /(?:^|&&\s*)node\s+((?:--?[\w-]+(?:=\S+)?\s+)*)\S+\s*$/.exec(startScript.trim());
  if (command === null) throw new Error(`Cannot find the node command in the start script: ${startScript}`);
  return (command[1] ?? '').split(/\s+/).filter(Boolean);
}

/**
 * The node flags a checkout's `npm start` runs the service with, but source maps (tsx maps the
 * sources itself): e.g. the V8 heap flag of docs/performance.md, "Garbage collection". The
 * Dockerfiles' CMD passes the same (a test keeps them in step).
 */
export function serviceNodeFlags(dir = '.'): string[] {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  const start = manifest.scripts?.start;
  return start === undefined ? [] : startFlags(start).filter((flag) => flag !== '--enable-source-maps');
}

/** The model `npm start` serves by default; the load scripts build it when it is missing. */
export const DEFAULT_MODEL_PATH = 'models/resnet50.onnx';
/** The int8 build of the same network (`npm run build:model -- --precision int8`); built when missing too. */
export const DEFAULT_INT8_MODEL_PATH = 'models/resnet50-int8.onnx';

export interface ServerHandle {
  readonly baseUrl: string;
  /** host:port of its gRPC listener. */
  readonly grpcAddress: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resident set size of the server process, KiB. */
  rssKiB(): number;
  /** Still running? */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after killAfterMs; resolves with the exit code (null if killed by a signal). */
  stop(killAfterMs?: number): Promise<number | null>;
}

export interface StartOptions {
  /** The model of MODEL_PATH; ignored when env sets MODEL_REPOSITORY. */
  readonly modelPath: string;
  readonly env: Readonly<Record<string, string>>;
  /** stdout and stderr of the server go here. */
  readonly logFile: string;
  /** The checkout to run (default: this one) and the node flags it runs with (default: serviceNodeFlags()). */
  readonly checkout?: { readonly dir: string; readonly nodeFlags: readonly string[] };
  readonly readyTimeoutMs?: number;
}

/** VmRSS of a process from /proc/<pid>/status, in KiB (Linux). */
export function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat (Linux, 100 ticks/s). */
export function readCpuSeconds(pid: number): number {
  return parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'latin1'));
}

/** utime + stime of a /proc/<pid>/stat line; the command name may hold spaces and parentheses. */
export function parseCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of the line; 12 and 13 counted from the state field after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`Unreadable /proc stat line: ${stat.slice(0, 80)}`);
  return ticks / 100;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('Could not get a free port');
  return address.port;
}

/** The default ResNet-50 (FP32 or int8) is built with the model CLI when missing; any other model must exist. */
export async function ensureModel(modelPath: string): Promise<void> {
  if (existsSync(modelPath) && existsSync(manifestPathFor(modelPath))) return;
  const precision =
    modelPath === DEFAULT_MODEL_PATH ? 'fp32' : modelPath === DEFAULT_INT8_MODEL_PATH ? 'int8' : undefined;
  if (precision === undefined) throw new Error(`Model ${modelPath} (or its manifest) does not exist`);
  process.stderr.write(`${modelPath} is missing: building the default ResNet-50 (${precision}) with the model CLI\n`);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/model/cli.ts', '--precision', precision, '--out', modelPath],
    { stdio: 'inherit' },
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`Building ${modelPath} failed (exit code ${code})`);
}

export async function startServer(options: StartOptions): Promise<ServerHandle> {
  const repository = options.env['MODEL_REPOSITORY'] !== undefined;
  if (!repository) await ensureModel(options.modelPath);
  await mkdir(dirname(options.logFile), { recursive: true });
  const port = await freePort();
  const grpcPort = await freePort();
  const log = openSync(options.logFile, 'a');
  const nodeFlags = options.checkout?.nodeFlags ?? serviceNodeFlags();
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/server/main.ts'], {
    ...(options.checkout === undefined ? {} : { cwd: options.checkout.dir }),
    env: {
      ...process.env,
      ...options.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      GRPC_PORT: String(grpcPort),
      // Absolute, so that a server run from another checkout serves this checkout's model file.
      ...(repository ? {} : { MODEL_PATH: resolve(options.modelPath) }),
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle = makeHandle(child, `http://127.0.0.1:${port}`, `127.0.0.1:${grpcPort}`, options.logFile, exited);
  try {
    await waitReady(handle, exited, options.readyTimeoutMs ?? 300_000);
  } catch (err) {
    await handle.stop(2000);
    throw err;
  }
  return handle;
}

function makeHandle(
  child: ChildProcess,
  baseUrl: string,
  grpcAddress: string,
  logFile: string,
  exited: Promise<number | null>,
): ServerHandle {
  const pid = child.pid;
  if (pid === undefined) throw new Error('The server process did not start');
  let running = true;
  void exited.then(() => (running = false));
  return {
    baseUrl,
    grpcAddress,
    pid,
    logFile,
    rssKiB: () => readRssKiB(pid),
    alive: () => running,
    async stop(killAfterMs = 30_000) {
      if (running) child.kill('SIGTERM');
      const timer = setTimeout(() => running && child.kill('SIGKILL'), killAfterMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function waitReady(handle: ServerHandle, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (!handle.alive())
      throw new Error(`The server exited (code ${await exited}) before it was ready; see ${handle.logFile}`);
    try {
      const res = await fetch(`${handle.baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      lastError = `status ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`The server was not ready within ${timeoutMs} ms (${lastError}); see ${handle.logFile}`);
}

/** Starts a server, runs fn with it, and always stops it; returns fn's value and the exit code. */
export async function withServer<T>(
  options: StartOptions,
  fn: (server: ServerHandle) => Promise<T>,
): Promise<{ value: T; exitCode: number | null }> {
  const server = await startServer(options);
  let value: T;
  try {
    value = await fn(server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { value, exitCode: await server.stop() };
}
