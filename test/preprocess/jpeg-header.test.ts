// The JavaScript JPEG header reader against libvips (sharp's metadata()), which it replaces for
// the resize plan: on every JPEG fixture, on crafted EXIF, and on thousands of damaged headers,
// where it must either agree with libvips or step aside (undefined), and never throw.
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { exifOrientation, readJpegHeader } from '../../src/preprocess/jpeg-header.ts';
import { fixtureBytes, IMAGES_DIR } from './parity.ts';

const JPEGS = readdirSync(IMAGES_DIR).filter((name) => /\.jpe?g$/.test(name));

async function libvips(bytes: Uint8Array) {
  const meta = await sharp(bytes).metadata();
  const upright = (meta.orientation ?? 1) === 1;
  return { width: meta.autoOrient.width, height: meta.autoOrient.height, space: meta.space, upright };
}

/** An EXIF APP1 payload with one IFD0 entry for the orientation tag. */
function exif(orientation: number, little: boolean, type = 3): Uint8Array {
  const tiff = new DataView(new ArrayBuffer(26));
  tiff.setUint16(0, little ? 0x4949 : 0x4d4d);
  tiff.setUint16(2, 42, little);
  tiff.setUint32(4, 8, little);
  tiff.setUint16(8, 1, little);
  tiff.setUint16(10, 0x0112, little);
  tiff.setUint16(12, type, little);
  tiff.setUint32(14, 1, little);
  tiff.setUint16(18, orientation, little);
  return Uint8Array.from([0x45, 0x78, 0x69, 0x66, 0, 0, ...new Uint8Array(tiff.buffer)]);
}

describe('readJpegHeader', () => {
  it.each(JPEGS.map((name) => [name]))(
    '%s: the size after orientation, the colour space and whether it is upright, as libvips reads them',
    async (name) => {
      const bytes = fixtureBytes(name);
      const header = readJpegHeader(bytes);
      if (name.startsWith('cmyk')) {
        expect(header).toBeUndefined(); // four components: left to libvips
        return;
      }
      expect(header).toEqual(await libvips(bytes));
    },
  );

  it('reads the orientation tag in both byte orders and refuses what it cannot be sure of', () => {
    for (const little of [true, false]) {
      for (let o = 1; o <= 8; o++) expect(exifOrientation(exif(o, little))).toBe(o);
      expect(exifOrientation(exif(0, little))).toBeUndefined();
      expect(exifOrientation(exif(9, little))).toBeUndefined();
      expect(exifOrientation(exif(6, little, 4))).toBeUndefined(); // a LONG, not a SHORT
    }
    expect(exifOrientation(Uint8Array.from([0x45, 0x78, 0x69, 0x66, 1, 2, 3]))).toBeUndefined();
  });

  it('agrees with libvips or steps aside on 3000 damaged copies of a JPEG with EXIF, and never throws', async () => {
    const original = fixtureBytes('exif-orientation-6.jpg');
    let state = 12345;
    const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let agreed = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from(original.subarray(0, 2000 + Math.floor(random() * 200)));
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) bytes[2 + Math.floor(random() * 600)] = random() * 256;
      const header = readJpegHeader(bytes);
      if (header === undefined) continue;
      const truth = await libvips(bytes).catch(() => undefined);
      // Where libvips cannot read the header either, the decode refuses the image (IMAGE_UNDECODABLE).
      if (truth === undefined) continue;
      expect(header).toEqual(truth);
      agreed++;
    }
    expect(agreed).toBeGreaterThan(100);
  });

  it('leaves everything but an 8-bit one-frame JPEG to libvips', () => {
    expect(readJpegHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]))).toBeUndefined();
    expect(readJpegHeader(fixtureBytes('landscape-500x375.jpg').subarray(0, 100))).toBeUndefined();
    const twelveBit = Uint8Array.from(fixtureBytes('tiny-64x48.jpg'));
    const sof = twelveBit.findIndex((b, i) => b === 0xff && twelveBit[i + 1] === 0xc0);
    twelveBit[sof + 4] = 12;
    expect(readJpegHeader(twelveBit)).toBeUndefined();
  });
});
