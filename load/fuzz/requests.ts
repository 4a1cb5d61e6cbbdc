// The valid bodies the fuzzer starts from, one request per case, and what counts as a finding:
// a 5xx other than 503 QUEUE_FULL (a worker crash shows as 503 WORKER_FAILED), an error without
// a registry code, an answer that is not JSON, no answer in time, a dropped connection, or the
// server process gone.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURE_DIR } from '../lib/image.ts';
import { tensorFor } from '../lib/tensor.ts';
import type { Corpus, FuzzCase, FuzzRequest } from './mutate.ts';

export const FUZZ_BOUNDARY = 'fuzz-boundary-1b9d';

function multipartOf(files: readonly { name: string; type: string; bytes: Buffer }[]): Buffer {
  const parts = files.flatMap((f) => [
    Buffer.from(
      `--${FUZZ_BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="${f.name}"\r\nContent-Type: ${f.type}\r\n\r\n`,
    ),
    f.bytes,
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...parts, Buffer.from(`--${FUZZ_BOUNDARY}--\r\n`)]);
}

/** Valid requests of every kind, from the small committed fixtures (fast to decode, so cases are cheap). */
export async function buildCorpus(modelName: string): Promise<Corpus> {
  const jpeg = await readFile(join(FIXTURE_DIR, 'tiny-64x48.jpg'));
  const png = await readFile(join(FIXTURE_DIR, 'tiny-120x90.png'));
  const infer = `/v2/models/${encodeURIComponent(modelName)}/infer`;
  const tensor = await tensorFor(png);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'input',
          shape: [1, 3, 224, 224],
          datatype: 'FP32',
          parameters: { binary_data_size: tensor.byteLength },
        },
      ],
      outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
    }),
  );
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  return {
    jpeg: { path: '/predict?topk=3', headers: { 'Content-Type': 'image/jpeg' }, body: jpeg },
    png: { path: '/predict?topk=3', headers: { 'Content-Type': 'image/png' }, body: png },
    multipart: {
      path: '/predict?topk=3',
      headers: { 'Content-Type': `multipart/form-data; boundary=${FUZZ_BOUNDARY}` },
      body: multipartOf([
        { name: 'a.jpg', type: 'image/jpeg', bytes: jpeg },
        { name: 'b.png', type: 'image/png', bytes: png },
      ]),
    },
    json: {
      path: '/predict?topk=3',
      headers: { 'Content-Type': 'application/json' },
      body: json({ images: [png.toString('base64'), jpeg.toString('base64')] }),
    },
    'v2-json': {
      path: infer,
      headers: { 'Content-Type': 'application/json' },
      body: json({
        inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [jpeg.toString('base64')] }],
        outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
      }),
    },
    'v2-binary': {
      path: infer,
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength)]),
    },
  };
}

export interface Outcome {
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** X-Error-Code of an error response. */
  readonly code?: string;
  readonly ms: number;
  /** Why this case is a finding, if it is one. */
  readonly finding?: string;
}

const ACCEPTABLE_5XX = new Set(['QUEUE_FULL']);

export function judge(status: number, code: string | undefined, body: string): string | undefined {
  if (status >= 500 && !(status === 503 && code !== undefined && ACCEPTABLE_5XX.has(code)))
    return `${status} ${code ?? ''}`.trim();
  if (status >= 400 && code === undefined) return `${status} without a registry code`;
  try {
    JSON.parse(body);
  } catch {
    return `${status} with a body that is not JSON`;
  }
  return undefined;
}

export async function send(baseUrl: string, request: FuzzRequest, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = Buffer.from(await response.arrayBuffer()).toString('latin1');
    const code = response.headers.get('x-error-code') ?? undefined;
    const finding = response.headers.get('content-type')?.startsWith('application/octet-stream')
      ? undefined
      : judge(response.status, code, text);
    return {
      status: response.status,
      ms: performance.now() - started,
      ...(code === undefined ? {} : { code }),
      ...(finding === undefined ? {} : { finding }),
    };
  } catch (err) {
    const name =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : `connection error: ${(err as Error).message}`;
    return { status: 0, ms: performance.now() - started, finding: name };
  }
}

/** A saved finding: enough to replay the request byte for byte. */
export function savedCase(seed: number, c: FuzzCase, outcome: Outcome): string {
  return JSON.stringify(
    {
      seed,
      index: c.index,
      kind: c.kind,
      mutations: c.mutations,
      status: outcome.status,
      code: outcome.code,
      finding: outcome.finding,
      path: c.path,
      headers: c.headers,
      body: c.body.toString('base64'),
    },
    null,
    2,
  );
}

/**
 * Runs tasks 0..count-1 with `concurrency` in flight, in index order. A task that throws stops
 * the pool (the others finish their current task) and its error is thrown once all have stopped.
 */
export async function runPool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < count && failure === undefined) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) throw failure.error;
}
