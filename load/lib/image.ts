// The image a load run sends. The benchmark image is a 500x375 JPEG: the preprocess
// helper commits one under test/fixtures/images/; if none is there, one is made with sharp
// (gradients + shapes + seeded noise, so JPEG compresses it like a photo, not like a flat fill).
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp from 'sharp';

export const BENCH_IMAGE_SIZE = { width: 500, height: 375 } as const;
export const FIXTURE_DIR = 'test/fixtures/images';

export interface LoadImage {
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** Where it came from: the --image file, the committed fixture, or generated now. */
  readonly source: 'file' | 'fixture' | 'generated';
}

export async function loadImage(file: string | undefined, fixtureDir = FIXTURE_DIR): Promise<LoadImage> {
  if (file !== undefined) return describe(await readFile(file), basename(file), 'file');
  const fixture = await findFixture(fixtureDir);
  if (fixture !== undefined) return fixture;
  return describe(
    await generateJpeg(BENCH_IMAGE_SIZE.width, BENCH_IMAGE_SIZE.height),
    'generated-500x375.jpg',
    'generated',
  );
}

async function describe(bytes: Uint8Array, name: string, source: LoadImage['source']): Promise<LoadImage> {
  const meta = await sharp(bytes).metadata();
  return { bytes, name, width: meta.width ?? 0, height: meta.height ?? 0, source };
}

/** The first JPEG of exactly 500x375 in the fixture folder (sorted by name), if any. */
async function findFixture(dir: string): Promise<LoadImage | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.jpe?g$/i.test(n)).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const image = await describe(await readFile(join(dir, name)), name, 'fixture');
    if (image.width === BENCH_IMAGE_SIZE.width && image.height === BENCH_IMAGE_SIZE.height) return image;
  }
  return undefined;
}

/** A deterministic photo-like JPEG (quality 90, 4:2:0 as cameras write). */
export async function generateJpeg(width: number, height: number, seed = 1): Promise<Uint8Array> {
  const rgb = Buffer.alloc(width * height * 3);
  let state = seed >>> 0 || 1;
  const noise = (): number => {
    // xorshift32: cheap and reproducible
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) % 41) - 20;
  };
  const cx = width * 0.6;
  const cy = height * 0.45;
  const r2 = (Math.min(width, height) * 0.3) ** 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r2;
      const base = inDisc ? [200, 120, 60] : [(255 * x) / width, (255 * y) / height, 128];
      const i = 3 * (y * width + x);
      for (let c = 0; c < 3; c++) rgb[i + c] = clampByte((base[c] ?? 0) + noise());
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
