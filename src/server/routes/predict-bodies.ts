// The three body kinds of POST /predict, each turned into a sequence of named images:
// multipart/form-data (every file part is an image, streamed with per-file and part limits),
// a raw image body, and JSON {"images": ["<base64>", ...]}.
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import type { NamedImage } from '../classifier/classifier.ts';

/** Media types accepted as a raw image body (the bytes are sniffed again by preprocess). */
export const RAW_IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/tiff',
  'application/octet-stream',
] as const;

/**
 * The 415 for a body /predict does not take, saying what it takes. curl's `-d @file` sends
 * application/x-www-form-urlencoded (and strips the file's newlines), so that case names the fix.
 */
export function unsupportedBody(contentType: string | undefined): Error {
  const type = contentType === undefined ? '(none)' : JSON.stringify(contentType.slice(0, 100));
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const hint =
    mediaType === 'application/x-www-form-urlencoded'
      ? "that is what curl -d sends (a form; -d also drops the file's newlines): send the image with curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg', or as multipart with curl -F image=@cat.jpg"
      : `send the image itself with its type (${RAW_IMAGE_TYPES.join(', ')}), multipart/form-data with image files (curl -F image=@cat.jpg), or application/json {"images": ["<base64>", ...]}`;
  return errors.UNSUPPORTED_MEDIA_TYPE(type, hint);
}

/**
 * Reads a whole request stream into one Buffer, failing with `tooLarge()` past `limit` bytes.
 * Listeners are removed (not the stream destroyed) on overflow, as fastify's own body reader
 * does, so the error response can still be written; the error handler closes the connection.
 */
export function readBody(stream: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) {
        cleanup();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}

/** Content-Length above `limit` is refused before any byte is read. */
export function checkDeclaredLength(request: FastifyRequest, limit: number, tooLarge: () => Error): void {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
}

/** `promise`, or `onTimeout()` thrown once the clock passes `deadline` (epoch ms). */
export async function beforeDeadline<T>(promise: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Multipart: each file part is an image named by its filename; a non-file field is an error.
 * Parsing must end within BODY_TIMEOUT_MS: busboy (@fastify/busboy 3.2.6) never finishes a body
 * whose part it skips (e.g. one with over 2000 header lines) when more follows than a stream
 * buffers (Node's default highWaterMark: 16 KiB on Node 20, 64 KiB since 22), and Node's
 * requestTimeout no longer applies once the body has arrived.
 */
export async function* multipartImages(app: FastifyInstance, request: FastifyRequest): AsyncGenerator<NamedImage> {
  const { maxImageBytes, maxImagesPerRequest, maxBodyBytes, bodyTimeoutMs } = app.config;
  checkDeclaredLength(request, maxBodyBytes, () => errors.BODY_TOO_LARGE(String(maxBodyBytes)));
  const limits = { fileSize: maxImageBytes, files: maxImagesPerRequest, fields: 0, parts: maxImagesPerRequest };
  const parts = request.parts({ limits })[Symbol.asyncIterator]();
  const deadline = Date.now() + bodyTimeoutMs;
  const inTime = <T>(promise: Promise<T>): Promise<T> =>
    beforeDeadline(promise, deadline, () => errors.REQUEST_TIMEOUT());
  let index = 0;
  let total = 0;
  for (let next = await inTime(parts.next()); next.done !== true; next = await inTime(parts.next())) {
    const part = next.value;
    if (part.type !== 'file') {
      throw errors.INVALID_PARAMETER(
        `multipart field "${part.fieldname.slice(0, 64)}" is not a file; send images as file parts`,
      );
    }
    const bytes = await inTime(part.toBuffer());
    total += bytes.length;
    if (total > maxBodyBytes) throw errors.BODY_TOO_LARGE(String(maxBodyBytes));
    yield { name: part.filename || String(index), bytes };
    index += 1;
  }
}

// Standard and URL-safe alphabets, optional padding; whitespace is stripped first. One character
// class: an alternation of overlapping classes backtracks exponentially on a stray character
// (measured: 24 characters and a "!" held the event loop 0.5 s, each further character x1.8).
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URL_PREFIX = /^data:[\w.+-]+\/[\w.+-]+;base64,/;

/** Decodes one base64 image (a data: URL is accepted too), checking its size before decoding. */
export function decodeBase64Image(text: string, index: number, maxImageBytes: number): Uint8Array {
  const payload = text.replace(DATA_URL_PREFIX, '').replace(/\s+/g, '');
  if (!BASE64.test(payload) || payload.length % 4 === 1) throw errors.INVALID_BASE64(String(index));
  if (Math.floor((payload.length * 3) / 4) > maxImageBytes + 2) throw errors.IMAGE_TOO_LARGE(String(maxImageBytes));
  // Node's base64 decoder reads both alphabets.
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > maxImageBytes) throw errors.IMAGE_TOO_LARGE(String(maxImageBytes));
  return bytes;
}

function isImageList(body: unknown): body is { images: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { images } = body as { images?: unknown };
  return Object.keys(body).length === 1 && Array.isArray(images) && images.every((image) => typeof image === 'string');
}

/** JSON {"images": [...]}, checked exactly (no coercion, no extra keys): images are named by their index. */
export function jsonImages(app: FastifyInstance, body: unknown): NamedImage[] {
  const { maxImageBytes, maxImagesPerRequest } = app.config;
  if (!isImageList(body)) throw errors.INVALID_PARAMETER('the JSON body must be {"images": ["<base64>", ...]}');
  if (body.images.length > maxImagesPerRequest) throw errors.TOO_MANY_IMAGES(String(maxImagesPerRequest));
  return body.images.map((text, index) => ({
    name: String(index),
    bytes: decodeBase64Image(text, index, maxImageBytes),
  }));
}
