// Execution-provider choice. onnxruntime-node ships the CPU provider; the CUDA provider libraries
// come from its install script, which this project runs only on request (`npm run install:cuda`;
// see onnxruntime-node/script/install.js and install-metadata.js: linux/x64 only), into the folder
// of the native binding, bin/napi-v*/<platform>/<arch>/. Their presence there decides `auto`.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { EngineLogger } from './logger.ts';
import { assertInteger, assertOneOf } from './validate.ts';

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'auto'] as const;
export type ExecutionProviderRequest = (typeof EXECUTION_PROVIDERS)[number];
export type ExecutionProvider = { readonly name: 'cpu' } | { readonly name: 'cuda'; readonly deviceId: number };

export const CUDA_INSTALL_COMMAND = 'npm run install:cuda';
const CUDA_LIBRARY =
  process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';

/** The folders that hold onnxruntime-node's native binding for this platform and architecture. */
export function onnxruntimeBinDirs(): string[] {
  const require = createRequire(import.meta.url);
  // The package's main is dist/index.js; bin/ sits next to dist/.
  const bin = path.join(path.dirname(path.dirname(require.resolve('onnxruntime-node'))), 'bin');
  if (!existsSync(bin)) return [];
  return readdirSync(bin)
    .filter((entry) => entry.startsWith('napi-v'))
    .map((entry) => path.join(bin, entry, process.platform, process.arch))
    .filter((dir) => existsSync(dir));
}

/** Path of the CUDA provider library if onnxruntime-node was installed with it. */
export function findCudaProvider(binDirs: readonly string[] = onnxruntimeBinDirs()): string | undefined {
  return binDirs.map((dir) => path.join(dir, CUDA_LIBRARY)).find((file) => existsSync(file));
}

export interface ProviderChoice {
  readonly requested: ExecutionProviderRequest;
  readonly cudaDeviceId?: number;
  /** Where to look for the CUDA provider; onnxruntime-node's own folders unless a test says otherwise. */
  readonly binDirs?: readonly string[];
  readonly logger: EngineLogger;
}

export function chooseExecutionProvider(choice: ProviderChoice): ExecutionProvider {
  assertOneOf('executionProvider', choice.requested, EXECUTION_PROVIDERS);
  const deviceId = choice.cudaDeviceId ?? 0;
  assertInteger('cudaDeviceId', deviceId, 0);
  if (choice.requested === 'cpu') return { name: 'cpu' };
  const binDirs = choice.binDirs ?? onnxruntimeBinDirs();
  const library = findCudaProvider(binDirs);
  if (choice.requested === 'cuda') {
    if (library === undefined) throw new Error(cudaMissingMessage(binDirs));
    return { name: 'cuda', deviceId };
  }
  if (library === undefined) {
    choice.logger.info(
      { executionProvider: 'cpu', requested: 'auto' },
      'CUDA provider not installed; using the CPU provider',
    );
    return { name: 'cpu' };
  }
  choice.logger.info(
    { executionProvider: 'cuda', requested: 'auto', deviceId, library },
    'CUDA provider found; using CUDA',
  );
  return { name: 'cuda', deviceId };
}

function cudaMissingMessage(binDirs: readonly string[]): string {
  const where = binDirs.length > 0 ? binDirs.join(', ') : 'onnxruntime-node/bin';
  return (
    `EXECUTION_PROVIDER=cuda, but onnxruntime-node's CUDA provider (${CUDA_LIBRARY}) is not installed in ${where}. ` +
    `Fetch it from NuGet: \`${CUDA_INSTALL_COMMAND}\` (Linux x64; needs the CUDA 12 runtime and cuDNN 9 on the host), ` +
    'or use EXECUTION_PROVIDER=cpu or auto.'
  );
}
