// Loading the WebAssembly modules of this folder (assembled from the .wat files beside them by
// `npm run build:wasm`): compiled on first use, synchronously (each is under 1 KB), once per
// thread; the engine's worker thread gets its own instance.
import { readFileSync } from 'node:fs';

/** A module's exported memory, as far as this folder uses it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The part of the WebAssembly global used here (its types come with the DOM library only). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
}

/** The exports of `file` (a .wasm in this folder), instantiated now. */
export function wasmExports<T>(file: string): T {
  const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
  return new Instance(new Module(readFileSync(new URL(file, import.meta.url)))).exports as T;
}
