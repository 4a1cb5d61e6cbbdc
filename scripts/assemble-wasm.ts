// Assembles src/preprocess/resample.wat into resample.wasm next to it (committed, so installs and
// the Docker image need no assembler); test/preprocess/exact-resize.test.ts checks the two agree.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import wabtInit from 'wabt';

const WAT = new URL('../src/preprocess/resample.wat', import.meta.url);
const WASM = new URL('../src/preprocess/resample.wasm', import.meta.url);

/** The binary of a .wat text (SIMD on, no debug names, so the bytes depend on the text alone). */
export async function assemble(text: string): Promise<Buffer> {
  const wabt = await wabtInit();
  const module = wabt.parseWat('resample.wat', text, { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const binary = await assemble(readFileSync(WAT, 'utf8'));
  writeFileSync(WASM, binary);
  console.log(`wrote ${WASM.pathname} (${binary.length} bytes)`);
}
