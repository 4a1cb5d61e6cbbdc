// A refusal answered while the client is still sending its body must reach the client: Node's fetch
// (undici) on a real socket, to the service in its own process (in one process the client's writes
// finish before the server answers, which hides the reset). Each case runs several times: before
// the lingering close, a 415 to 400 one-byte parts failed with EPIPE ("fetch failed") every time,
// and a 413 to a large body in some of the tries.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnServer, type Spawned } from '../hardening/spawn.ts';

const MAX_IMAGE_BYTES = 1_000_000;
const MAX_BODY_BYTES = 2_000_000;
const TRIES = 10;

let server: Spawned;
let base: string;
beforeAll(async () => {
  server = spawnServer({
    MODEL_PATH: inject('tinyModelPath'),
    MODEL_NAME: 'resnet50',
    MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
  });
  base = `http://127.0.0.1:${await server.port()}`;
  await server.waitForLog('ready');
});
afterAll(async () => {
  server?.child.kill('SIGKILL');
  await server?.exited;
});

/** Status and error code of each try, or the fetch error's cause. */
async function outcomes(path: string, init: () => RequestInit): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < TRIES; i++) {
    try {
      const response = await fetch(`${base}${path}`, init());
      const body = (await response.json()) as { error?: { code?: string } | string };
      const code = typeof body.error === 'object' ? body.error.code : response.headers.get('x-error-code');
      seen.push(`${response.status} ${code}`);
    } catch (err) {
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      seen.push(`failed: ${cause?.code ?? cause?.message ?? String(err)}`);
    }
  }
  return seen;
}

/** A body sent in 64 KiB chunks without a Content-Length (chunked), `total` bytes in all. */
function chunkedBody(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) controller.close();
      else {
        controller.enqueue(new Uint8Array(64 * 1024));
        sent += 64 * 1024;
      }
    },
  });
}

describe('early refusals read by Node fetch', { timeout: 120_000 }, () => {
  it('a multipart body of 400 one-byte parts: 415 UNSUPPORTED_IMAGE_FORMAT for its first part, every try', async () => {
    const form = () => {
      const data = new FormData();
      for (let i = 0; i < 400; i++) data.append(`f${i}`, new Blob(['x'], { type: 'image/png' }), `${i}.png`);
      return { method: 'POST', body: data };
    };
    expect(await outcomes('/predict', form)).toEqual(new Array(TRIES).fill('415 UNSUPPORTED_IMAGE_FORMAT'));
  });

  it('a raw image declared 64 times over MAX_IMAGE_BYTES: 413 IMAGE_TOO_LARGE before the body is read, every try', async () => {
    const init = () => ({
      method: 'POST',
      body: Buffer.alloc(64 * MAX_IMAGE_BYTES),
      headers: { 'content-type': 'image/png' },
    });
    expect(await outcomes('/predict', init)).toEqual(new Array(TRIES).fill('413 IMAGE_TOO_LARGE'));
  });

  it('a chunked raw image that grows past MAX_IMAGE_BYTES mid-stream: 413 IMAGE_TOO_LARGE, every try', async () => {
    const init = () =>
      ({
        method: 'POST',
        body: chunkedBody(8 * MAX_IMAGE_BYTES),
        headers: { 'content-type': 'image/png' },
        duplex: 'half',
      }) as RequestInit;
    expect(await outcomes('/predict', init)).toEqual(new Array(TRIES).fill('413 IMAGE_TOO_LARGE'));
  });

  it('a V2 body for a model that does not exist, refused before it is read: 404 MODEL_NOT_FOUND, every try', async () => {
    const init = () => ({
      method: 'POST',
      body: Buffer.alloc(32 * MAX_IMAGE_BYTES),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(await outcomes('/v2/models/nope/infer', init)).toEqual(new Array(TRIES).fill('404 MODEL_NOT_FOUND'));
  });
});
