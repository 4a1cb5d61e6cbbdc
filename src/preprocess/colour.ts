// PIL's CMYK -> RGB conversion (Pillow src/libImaging/Convert.c, cmyk2rgb): the naive formula
// R = (255 - K) - (255 - K) * C / 255, with Pillow's integer MULDIV255 rounding, no ICC profile.
// libvips would convert through a CMYK profile instead, which lands far from what PIL gives.

/** (a * b) / 255 rounded, as Pillow's MULDIV255 macro computes it. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/** Interleaved CMYK bytes (4 per pixel, ink amounts: 0 = none) to interleaved RGB bytes. */
export function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const pixels = cmyk.length >> 2;
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0, o = 0; i < cmyk.length; i += 4, o += 3) {
    const inverseK = 255 - (cmyk[i + 3] as number);
    rgb[o] = inverseK - mulDiv255(cmyk[i] as number, inverseK);
    rgb[o + 1] = inverseK - mulDiv255(cmyk[i + 1] as number, inverseK);
    rgb[o + 2] = inverseK - mulDiv255(cmyk[i + 2] as number, inverseK);
  }
  return rgb;
}
