import { Busboy } from '@fastify/busboy';
import { describe, expect, it } from 'vitest';
import { buildRequest, sniffImageType, type PreparedRequest } from '../../load/lib/bodies.ts';
import { generateJpeg } from '../../load/lib/image.ts';

const jpeg = await generateJpeg(64, 48);

/** Parses a prepared multipart request with busboy (what @fastify/multipart uses). */
async function parseMultipart(
  req: PreparedRequest,
): Promise<{ field: string; filename: string; mimeType: string; bytes: Buffer }[]> {
  const files: { field: string; filename: string; mimeType: string; bytes: Buffer }[] = [];
  const parser = new Busboy({ headers: { 'content-type': req.headers['Content-Type'] ?? '' } });
  parser.on('file', (field, stream, filename, _encoding, mimeType) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => files.push({ field, filename, mimeType, bytes: Buffer.concat(chunks) }));
  });
  parser.on('field', (name) => files.push({ field: name, filename: '', mimeType: 'field', bytes: Buffer.alloc(0) }));
  await new Promise<void>((resolve, reject) => {
    parser.on('finish', resolve);
    parser.on('error', reject);
    parser.end(req.body);
  });
  return files;
}

const input = { image: jpeg, imageName: 'cat.jpg', imagesPerRequest: 1, modelName: 'resnet50' };

describe('sniffImageType', () => {
  it('recognises each accepted image format by its first bytes', () => {
    const bytes = (text: string, at = 0) =>
      Buffer.concat([Buffer.alloc(at), Buffer.from(text, 'latin1'), Buffer.alloc(8)]);
    expect(sniffImageType(jpeg)).toBe('image/jpeg');
    expect(sniffImageType(bytes('\x89PNG\r\n\x1a\n'))).toBe('image/png');
    expect(sniffImageType(bytes('GIF89a'))).toBe('image/gif');
    expect(sniffImageType(bytes('RIFF\0\0\0\0WEBP'))).toBe('image/webp');
    expect(sniffImageType(bytes('ftypavif', 4))).toBe('image/avif');
    expect(sniffImageType(bytes('II*\0'))).toBe('image/tiff');
    expect(sniffImageType(bytes('MM\0*'))).toBe('image/tiff');
    expect(sniffImageType(bytes('BM'))).toBe('application/octet-stream');
    expect(sniffImageType(new Uint8Array())).toBe('application/octet-stream');
  });
});

describe('buildRequest', () => {
  it('builds a multipart body that busboy parses back into the exact image bytes', async () => {
    const req = buildRequest('multipart', input);
    expect(req).toMatchObject({ method: 'POST', path: '/predict?topk=5', images: 1 });
    expect(req.headers['Content-Type']).toMatch(/^multipart\/form-data; boundary=----resnet-serve-load-[0-9a-f]{24}$/);
    const files = await parseMultipart(req);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ field: 'image', filename: 'cat.jpg', mimeType: 'image/jpeg' });
    expect(files[0]?.bytes.equals(Buffer.from(jpeg))).toBe(true);
  });

  it('puts N file parts with distinct names into one multipart body', async () => {
    const req = buildRequest('multipart', { ...input, imagesPerRequest: 3, boundary: 'b0undary', topk: 2 });
    expect(req.path).toBe('/predict?topk=2');
    expect(req.images).toBe(3);
    const files = await parseMultipart(req);
    expect(files.map((f) => f.filename)).toEqual(['0-cat.jpg', '1-cat.jpg', '2-cat.jpg']);
    expect(files.every((f) => f.bytes.equals(Buffer.from(jpeg)))).toBe(true);
    expect(req.body.subarray(-14).toString()).toBe('--b0undary--\r\n');
  });

  it('sends a raw body as the image itself with its sniffed content type', () => {
    const req = buildRequest('raw', input);
    expect(req.headers).toEqual({ 'Content-Type': 'image/jpeg' });
    expect(req.body.equals(Buffer.from(jpeg))).toBe(true);
    expect(() => buildRequest('raw', { ...input, imagesPerRequest: 2 })).toThrow(
      'A raw body carries exactly one image',
    );
  });

  it('sends JSON with the image base64-encoded once per image', () => {
    const req = buildRequest('json', { ...input, imagesPerRequest: 2 });
    expect(req.headers).toEqual({ 'Content-Type': 'application/json' });
    const parsed = JSON.parse(req.body.toString()) as { images: string[] };
    expect(parsed.images).toHaveLength(2);
    expect(Buffer.from(parsed.images[1] ?? '', 'base64').equals(Buffer.from(jpeg))).toBe(true);
  });

  it('builds a KServe V2 binary request: JSON header of the announced length, then N little-endian FP32 copies', () => {
    const tensor = Float32Array.from({ length: 3 * 4 * 4 }, (_, i) => i / 7 - 2);
    const req = buildRequest('v2-binary', { ...input, modelName: 'res net', tensor, imagesPerRequest: 2, topk: 3 });
    expect(req.path).toBe('/v2/models/res%20net/infer');
    expect(req.headers['Content-Type']).toBe('application/octet-stream');
    const headerLength = Number(req.headers['Inference-Header-Content-Length']);
    const header = JSON.parse(req.body.subarray(0, headerLength).toString()) as {
      inputs: { name: string; shape: number[]; datatype: string; parameters: { binary_data_size: number } }[];
      outputs: { name: string; parameters: { classification: number } }[];
    };
    expect(header.inputs[0]).toEqual({
      name: 'input',
      shape: [2, 3, 4, 4],
      datatype: 'FP32',
      parameters: { binary_data_size: 2 * 48 * 4 },
    });
    expect(header.outputs).toEqual([{ name: 'probabilities', parameters: { classification: 3 } }]);
    const data = req.body.subarray(headerLength);
    expect(data.length).toBe(2 * 48 * 4);
    for (const [i, expected] of [0, 47, 48, 95].map((j) => [j, tensor[j % 48]] as const))
      expect(data.readFloatLE(4 * i)).toBe(expected);
  });

  it('refuses a v2-binary body without a tensor, or with one that is not 3xSxS', () => {
    expect(() => buildRequest('v2-binary', input)).toThrow('A v2-binary body needs the preprocessed tensor');
    expect(() => buildRequest('v2-binary', { ...input, tensor: new Float32Array(10) })).toThrow(
      'Expected a 3xSxS tensor, got 10 floats',
    );
  });
});
