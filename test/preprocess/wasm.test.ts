// Each committed .wasm of src/preprocess is what its .wat assembles to, so the text reviewed is the
// code that runs (run `npm run build:wasm` after editing a .wat).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble, WASM_DIR, watFiles } from '../../scripts/assemble-wasm.ts';

describe('the WebAssembly modules', () => {
  it('are the ones this folder uses', () => {
    expect(watFiles()).toEqual(['normalize.wat', 'resample.wat']);
  });

  it.each(watFiles().map((name) => [name]))('%s assembles to the committed .wasm', async (name) => {
    const assembled = await assemble(name, readFileSync(new URL(name, WASM_DIR), 'utf8'));
    const committed = readFileSync(new URL(name.replace(/\.wat$/, '.wasm'), WASM_DIR));
    expect(Buffer.compare(assembled, committed)).toBe(0);
  });
});
