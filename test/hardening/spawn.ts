// The real entry point (src/server/main.ts) in a child process, for what only a process shows:
// exit codes and messages at startup, signals, and the log it writes to stdout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Spawned {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** stdout lines that are JSON (pino), parsed. */
  logLines(): Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the process has exited and its output is all read (stdout and stderr closed). */
  readonly closed: Promise<void>;
  /** The port from the "resnet-serve listening on <url>" line, once it appears. */
  port(timeoutMs?: number): Promise<number>;
  /** Resolves when the output matches `pattern` (for output that is not JSON). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when a log line with this msg appears. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface SpawnOptions {
  /** What to run in the repository folder (default: the entry point's source under tsx). */
  readonly command?: readonly [string, ...string[]];
  /** In a process group of its own, as a terminal runs a command (signal it with process.kill(-pid)). */
  readonly detached?: boolean;
}

export function spawnServer(env: Record<string, string>, options: SpawnOptions = {}): Spawned {
  const [command, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/server/main.ts'];
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: options.detached ?? false,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_PORT: '0',
      INTRA_OP_THREADS: '1',
      ...env,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const logLines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waitFor = async <T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${what}; output:\n${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const waitForLog = (msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> =>
    waitFor(
      () => logLines().find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith(msg)),
      `"${msg}" log line`,
      timeoutMs,
    );
  const waitForOutput = async (pattern: RegExp, timeoutMs = 60_000): Promise<void> =>
    void (await waitFor(() => (pattern.test(output) ? true : undefined), `output matching ${pattern}`, timeoutMs));
  return {
    child,
    output: () => output,
    logLines,
    exited,
    closed,
    waitForLog,
    waitForOutput,
    async port(timeoutMs) {
      const line = await waitForLog('resnet-serve listening on', timeoutMs);
      return Number(/ on http:\/\/\S+:(\d+) /.exec(String(line['msg']))?.[1]);
    },
  };
}
