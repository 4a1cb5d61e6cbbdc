// The real entry point (src/server/main.ts) in a child process: graceful shutdown on SIGTERM and
// SIGINT with requests in flight (they complete 200, later requests are refused, exit code 0),
// and startup refusing bad configuration with a message naming the variable.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { fixture } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const png = fixture('tiny-120x90.png');

interface Server {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function start(env: Record<string, string>, argv: string[] = []): Server {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts', ...argv], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', GRPC_PORT: '0', ...env },
  });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, lines, exited };
}

async function waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One request on its own connection (no keep-alive pool), resolving to status or error code. */
function predict(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/predict',
        agent: false,
        headers: { 'content-type': 'image/png' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end(png);
  });
}

async function queueDepth(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // One series per model version; the single model is the only one.
  return Number(/^resnet_queue_depth\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('graceful shutdown of the real entry point', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s: in-flight requests complete 200, later ones are refused, exit code 0',
    async (signal) => {
      // Batches wait 1 s for company, so requests are still in flight when the signal arrives.
      const server = start({
        MODEL_PATH: inject('tinyModelPath'),
        PORT: '0',
        INTRA_OP_THREADS: '1',
        MAX_BATCH_SIZE: '8',
        MAX_BATCH_DELAY_MS: '1000',
        SHUTDOWN_TIMEOUT_MS: '10000',
      });
      try {
        await waitFor(() => server.lines.find((l) => l['msg'] === 'ready'), 30_000, 'ready');
        const listening = server.lines.find((l) => String(l['msg']).startsWith('Server listening at'));
        const port = Number(/:(\d+)$/.exec(String(listening?.['msg']))?.[1]);

        const inFlight = [predict(port), predict(port), predict(port)];
        await until(async () => (await queueDepth(port)) === 3, 10_000, 'three queued images');

        const signalled = Date.now();
        server.child.kill(signal);
        await waitFor(
          () => server.lines.find((l) => l['msg'] === 'draining: finishing in-flight work'),
          5000,
          'draining',
        );
        const later = await predict(port);

        expect(await Promise.all(inFlight)).toEqual([200, 200, 200]);
        expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(later);
        const { code } = await server.exited;
        expect(code).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(10_000);
        expect(server.lines.some((l) => l['msg'] === 'drained')).toBe(true);
      } finally {
        server.child.kill('SIGKILL');
      }
    },
  );
});

describe('startup', () => {
  it('refuses an invalid value with exit code 2 and a message naming the variable, the value and what is allowed', async () => {
    const { code, stderr } = await start({ MAX_BATCH_SIZE: '0' }, ['--execution-provider', 'gpu']).exited;
    expect(code).toBe(2);
    expect(stderr).toContain('MAX_BATCH_SIZE="0" is invalid: expected an integer from 1 to 64');
    expect(stderr).toContain('--execution-provider="gpu" is invalid: expected one of cpu, cuda, auto');
  });

  it('refuses a MODEL_PATH that does not exist with exit code 1', async () => {
    const { code, stderr } = await start({ MODEL_PATH: '/nonexistent/model.onnx', PORT: '0' }).exited;
    expect(code).toBe(1);
    expect(stderr).toContain('MODEL_PATH /nonexistent/model.onnx does not exist');
  });

  it('prints every flag with --help and exits 0', async () => {
    const server = start({}, ['--help']);
    let stdout = '';
    server.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(stdout).toContain('--max-batch-size (MAX_BATCH_SIZE)');
  });
});
