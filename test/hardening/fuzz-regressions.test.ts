// Cases found by `npm run fuzz`, replayed byte for byte from test/fixtures/fuzz/ (each file says
// the seed and case number that made it, what it did before the fix, and what it must get now).
// New findings: copy the saved case-N.json there and add "expected". A case whose outcome depends
// on how much a stream buffers records the default highWaterMark it was found under (Node 20's
// 16 KiB; Node 22 raised it to 64 KiB), and is replayed with that default.
import { readFileSync, readdirSync } from 'node:fs';
import { getDefaultHighWaterMark, setDefaultHighWaterMark } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, expectStillServing, startApp } from './helpers.ts';

interface SavedCase {
  readonly seed: number;
  readonly index: number;
  readonly found: string;
  readonly why: string;
  readonly expected: { readonly status: number; readonly code: string };
  readonly highWaterMark?: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const dir = new URL('../fixtures/fuzz/', import.meta.url);
const cases = readdirSync(dir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as SavedCase);

let app: FastifyInstance;
beforeAll(async () => {
  // The default limits of the service (as the fuzzer's server ran), but a 1.5 s body timeout.
  app = await startApp({
    MAX_IMAGE_BYTES: String(10 * 2 ** 20),
    MAX_BODY_BYTES: String(64 * 2 ** 20),
    MAX_IMAGES_PER_REQUEST: '32',
    MAX_IMAGE_PIXELS: '40000000',
  });
});
afterAll(async () => {
  await app?.close();
});

describe('fuzz findings', { timeout: 15_000 }, () => {
  it('has saved cases to replay', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });

  it.each(cases.map((c) => [`seed ${c.seed} case ${c.index} (${c.why}; was: ${c.found})`, c] as const))(
    '%s',
    async (_name, c) => {
      const highWaterMark = getDefaultHighWaterMark(false);
      setDefaultHighWaterMark(false, c.highWaterMark ?? highWaterMark);
      const response = await app
        .inject({ method: 'POST', url: c.path, headers: c.headers, payload: Buffer.from(c.body, 'base64') })
        .finally(() => setDefaultHighWaterMark(false, highWaterMark));
      expectError(response, c.expected.status, c.expected.code, c.path.startsWith('/v2/') ? 'v2' : 'predict');
    },
  );

  it('still serves a good request with the right result', async () => {
    await expectStillServing(app);
  });
});
