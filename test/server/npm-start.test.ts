// `npm start` as a person runs it from a terminal: npm, sh and node in one process group, and Ctrl-C
// sent to the whole group (a terminal sends SIGINT to every process of its foreground group). One
// Ctrl-C drains every request in flight and node exits 0, try after try; a second one, after a
// pause, forces the exit. npm itself always ends by SIGINT (a shell shows 130), whatever node's
// code: node's own exit code is its last log line.
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnServer, type Spawned } from '../hardening/spawn.ts';
import { fixture, predictOnce, queueDepth, until } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const png = fixture('tiny-120x90.png');
const TRIES = 5;

/** `npm start` in a process group of its own, on the tiny model; batches wait `batchDelayMs` for company. */
function npmStart(batchDelayMs: number): Spawned {
  return spawnServer(
    {
      MODEL_PATH: inject('tinyModelPath'),
      MAX_BATCH_SIZE: '8',
      MAX_BATCH_DELAY_MS: String(batchDelayMs),
      SHUTDOWN_TIMEOUT_MS: '20000',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
    },
    { command: ['npm', 'start'], detached: true },
  );
}

/** Sends `signal` to every process of the server's group, as a terminal's Ctrl-C does. */
function signalGroup(server: Spawned, signal: NodeJS.Signals): void {
  process.kill(-(server.child.pid as number), signal);
}

function groupAlive(server: Spawned): boolean {
  try {
    process.kill(-(server.child.pid as number), 0);
    return true;
  } catch {
    return false;
  }
}

async function withServer(batchDelayMs: number, body: (server: Spawned, port: number) => Promise<void>): Promise<void> {
  const server = npmStart(batchDelayMs);
  try {
    const port = await server.port(90_000);
    await server.waitForLog('ready');
    await body(server, port);
  } finally {
    if (groupAlive(server)) signalGroup(server, 'SIGKILL');
  }
}

/** Three requests whose images wait in the queue (a batch waits for company) when this resolves. */
async function holdInFlight(port: number): Promise<Promise<number | string>[]> {
  const inFlight = [predictOnce(port, png), predictOnce(port, png), predictOnce(port, png)];
  await until(async () => (await queueDepth(port)) === 3, 10_000, 'three queued images');
  return inFlight;
}

/** node's exit code, from its last log line (npm, the process spawned, always ends by SIGINT). */
async function exitCodeOf(server: Spawned): Promise<unknown> {
  await server.closed;
  return server.logLines().find((line) => line['msg'] === 'stopped')?.['exitCode'];
}

describe('Ctrl-C on npm start (SIGINT to the process group)', { timeout: 180_000 }, () => {
  beforeAll(() => {
    // npm start compiles first (incremental): done once here, each start below finds it up to date.
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  }, 180_000);

  it.each(Array.from({ length: TRIES }, (_, i) => i + 1))(
    'try %i: every request in flight completes 200 and node exits 0, a browser-like spare connection open too',
    async () => {
      await withServer(1000, async (server, port) => {
        // Browsers keep a connection open ahead of need; it carries no request and must not hold the exit.
        const spare = connect(port, '127.0.0.1').on('error', () => undefined);
        const inFlight = await holdInFlight(port);
        const signalled = Date.now();
        signalGroup(server, 'SIGINT');
        expect(await Promise.all(inFlight)).toEqual([200, 200, 200]);
        const npm = await server.exited;
        spare.destroy();
        // Batches wait 1 s for company; SHUTDOWN_TIMEOUT_MS is 20 s.
        expect(Date.now() - signalled).toBeLessThan(10_000);
        expect(npm.signal ?? npm.code).toMatch(/^(SIGINT|130)$/);
        expect(groupAlive(server)).toBe(false);
        expect(await exitCodeOf(server)).toBe(0);
        const messages = server.logLines().map((line) => line['msg']);
        expect(messages).toContain('drained');
        expect(messages).not.toContain('second signal: exiting without finishing the drain');
      });
    },
  );

  it('a second Ctrl-C after a pause forces the exit (code 1) without waiting for the drain', async () => {
    // A batch waits 10 s for company: the drain alone would take that long.
    await withServer(10_000, async (server, port) => {
      const inFlight = await holdInFlight(port);
      const first = Date.now();
      signalGroup(server, 'SIGINT');
      await server.waitForLog('draining: finishing in-flight work', 5000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      signalGroup(server, 'SIGINT');
      await server.exited;
      expect(Date.now() - first).toBeLessThan(6000);
      expect(await exitCodeOf(server)).toBe(1);
      const forced = server
        .logLines()
        .find((line) => line['msg'] === 'second signal: exiting without finishing the drain');
      expect(forced?.['msSinceFirst']).toBeGreaterThanOrEqual(1000);
      // The requests were cut, as asked: none got an answer.
      for (const result of await Promise.all(inFlight)) expect(result).not.toBe(200);
    });
  });
});
