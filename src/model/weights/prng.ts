// A small, fast, deterministic PRNG: mulberry32 (Tommy Ettinger, public domain), 32-bit state,
// passes PractRand to 2^32 bytes: plenty for weight initialisation. Each tensor gets its own stream
// seeded from (seed, tensor name), so a tensor's values do not depend on build order.
// scripts/fixtures/resnet_reference.py has a bit-exact Python port (for the parity test inputs).

/** FNV-1a over the name's UTF-16 code units, mixed with the seed (murmur3's 32-bit finaliser). */
export function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Fills `out` with uniform values in [low, high). */
export function fillUniform(out: Float32Array, state: number, low: number, high: number): void {
  const span = high - low;
  let a = state | 0;
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = low + span * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
}
