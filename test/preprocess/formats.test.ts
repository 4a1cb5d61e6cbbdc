import { describe, expect, it } from 'vitest';
import { requireSupportedFormat, sniffImageFormat } from '../../src/preprocess/formats.ts';
import { fixtureBytes } from './parity.ts';

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

/** An ISO-BMFF ftyp box with the given major and compatible brands. */
const ftyp = (major: string, ...compatible: string[]): Uint8Array => {
  const size = 16 + 4 * compatible.length;
  return bytes([0, 0, 0, size], 'ftyp', major, [0, 0, 0, 0], compatible.join(''), 'meta');
};

describe('sniffImageFormat', () => {
  it.each([
    ['landscape-500x375.jpg', 'jpeg'],
    ['odd-333x257.png', 'png'],
    ['lossy-400x300.webp', 'webp'],
    ['still-320x240.gif', 'gif'],
    ['deflate-300x280.tiff', 'tiff'],
  ] as const)('recognises the committed fixture %s as %s', (file, format) => {
    expect(sniffImageFormat(fixtureBytes(file))).toEqual({ accepted: true, format });
  });

  it('accepts GIF87a, big-endian TIFF and BigTIFF headers', () => {
    expect(sniffImageFormat(bytes('GIF87a', [1, 0, 1, 0]))).toEqual({ accepted: true, format: 'gif' });
    expect(sniffImageFormat(bytes([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8]))).toEqual({ accepted: true, format: 'tiff' });
    expect(sniffImageFormat(bytes([0x49, 0x49, 0x2b, 0, 8, 0, 0, 0]))).toEqual({ accepted: true, format: 'tiff' });
  });

  it('accepts AVIF by its major or a compatible brand, and refuses HEIC as heic', () => {
    expect(sniffImageFormat(ftyp('avif', 'mif1', 'miaf'))).toEqual({ accepted: true, format: 'avif' });
    expect(sniffImageFormat(ftyp('mif1', 'avif'))).toEqual({ accepted: true, format: 'avif' });
    expect(sniffImageFormat(ftyp('avis', 'msf1'))).toEqual({ accepted: true, format: 'avif' });
    expect(sniffImageFormat(ftyp('heic', 'mif1', 'heic'))).toEqual({ accepted: false, name: 'heic' });
  });

  it.each([
    ['svg', bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['svg', bytes([0xef, 0xbb, 0xbf], '  <?xml version="1.0"?><svg/>')],
    ['svg', bytes('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"><svg/>')],
    ['pdf', bytes('%PDF-1.7\n')],
    ['bmp', bytes('BM', [0x36, 0, 0, 0])],
    ['ico', bytes([0, 0, 1, 0, 1, 0, 16, 16])],
    ['psd', bytes('8BPS', [0, 1])],
    ['jxl', bytes([0xff, 0x0a, 0xfa, 0x7f])],
    ['jp2', bytes([0, 0, 0, 0x0c], 'jP  ', [0x0d, 0x0a, 0x87, 0x0a])],
    ['unknown', bytes('hello, world')],
    ['unknown', bytes('RIFF', [0, 0, 0, 0], 'WAVE')],
    ['unknown', bytes([0xff, 0xd8])],
  ])('names refused input as %s', (name, input) => {
    expect(sniffImageFormat(input)).toEqual({ accepted: false, name });
  });
});

describe('requireSupportedFormat', () => {
  it('returns the format of an accepted image', () => {
    expect(requireSupportedFormat(fixtureBytes('tiny-64x48.jpg'))).toBe('jpeg');
  });

  it('throws UNSUPPORTED_IMAGE_FORMAT (415) naming what was sent', () => {
    expect(() => requireSupportedFormat(bytes('%PDF-1.4'))).toThrowError(
      expect.objectContaining({
        code: 'UNSUPPORTED_IMAGE_FORMAT',
        statusCode: 415,
        message: expect.stringContaining('pdf'),
      }),
    );
  });
});
