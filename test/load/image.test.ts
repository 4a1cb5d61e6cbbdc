import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { generateJpeg, loadImage } from '../../load/lib/image.ts';

describe('loadImage', () => {
  it('generates a deterministic 500x375 JPEG when no fixture of that size exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'load-image-'));
    await writeFile(join(dir, 'a-small.jpg'), await generateJpeg(50, 40));
    const image = await loadImage(undefined, dir);
    expect(image).toMatchObject({ name: 'generated-500x375.jpg', width: 500, height: 375, source: 'generated' });
    expect(Buffer.from(image.bytes).equals(Buffer.from(await generateJpeg(500, 375)))).toBe(true);
    const meta = await sharp(image.bytes).metadata();
    expect([meta.format, meta.chromaSubsampling]).toEqual(['jpeg', '4:2:0']);
    // Photo-like: noise keeps it far from a flat fill's few kilobytes.
    expect(image.bytes.length).toBeGreaterThan(40_000);
  });

  it('picks the first 500x375 JPEG of the fixture folder by name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'load-image-'));
    await writeFile(join(dir, 'b.jpg'), await generateJpeg(500, 375, 2));
    await writeFile(join(dir, 'c.jpg'), await generateJpeg(500, 375, 3));
    await writeFile(join(dir, 'a.jpg'), await generateJpeg(375, 500, 4));
    expect(await loadImage(undefined, dir)).toMatchObject({
      name: 'b.jpg',
      source: 'fixture',
      width: 500,
      height: 375,
    });
  });

  it('reads an explicit --image file whatever its size, and fails clearly on a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'load-image-'));
    const file = join(dir, 'tiny.png');
    await writeFile(
      file,
      await sharp({ create: { width: 7, height: 5, channels: 3, background: '#08f' } })
        .png()
        .toBuffer(),
    );
    expect(await loadImage(file, dir)).toMatchObject({ name: 'tiny.png', width: 7, height: 5, source: 'file' });
    await expect(loadImage(join(dir, 'missing.jpg'))).rejects.toThrow(/ENOENT/);
  });
});
