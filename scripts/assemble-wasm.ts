// Assembles each .wat file of src/preprocess into the .wasm beside it (committed, so installs and
// the Docker image need no assembler); test/preprocess/wasm.test.ts checks that they agree.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import wabtInit from 'wabt';

export const WASM_DIR = new URL('../src/preprocess/', import.meta.url);

/** The .wat sources of WASM_DIR, by name. */
export function watFiles(): string[] {
  return readdirSync(WASM_DIR)
    .filter((name) => name.endsWith('.wat'))
    .sort();
}

/** The binary of a .wat text (SIMD on, no debug names, so the bytes depend on the text alone). */
export async function assemble(name: string, text: string): Promise<Buffer> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(name, text, { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const name of watFiles()) {
    const binary = await assemble(name, readFileSync(new URL(name, WASM_DIR), 'utf8'));
    const out = new URL(name.replace(/\.wat$/, '.wasm'), WASM_DIR);
    writeFileSync(out, binary);
    console.log(`wrote ${out.pathname} (${binary.length} bytes)`);
  }
}
