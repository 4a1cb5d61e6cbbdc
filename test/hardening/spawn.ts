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
  /** The port from the "Server listening at" line, once it appears. */
  port(timeoutMs?: number): Promise<number>;
  /** Resolves when a log line with this msg appears. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export function spawnServer(env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
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
  const logLines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waitForLog = async (msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const line = logLines().find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith(msg));
      if (line !== undefined) return line;
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`no "${msg}" log line; output:\n${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  return {
    child,
    output: () => output,
    logLines,
    exited,
    waitForLog,
    async port(timeoutMs) {
      const line = await waitForLog('Server listening at', timeoutMs);
      return Number(/:(\d+)$/.exec(String(line['msg']))?.[1]);
    },
  };
}
