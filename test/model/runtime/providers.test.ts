import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseExecutionProvider, findCudaProvider, onnxruntimeBinDirs } from '../../../src/model/runtime/providers.ts';
import { sessionOptionsFor } from '../../../src/model/runtime/session-options.ts';
import type { EngineLogger } from '../../../src/model/runtime/logger.ts';

function recordingLogger(): EngineLogger & { lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

function folderWithCudaProvider(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ort-bin-'));
  writeFileSync(path.join(dir, 'libonnxruntime_providers_cuda.so'), '');
  return dir;
}

describe('onnxruntime-node install on this machine', () => {
  it('locates the native binding folder and finds no CUDA provider in it', () => {
    const dirs = onnxruntimeBinDirs();
    expect(dirs.length).toBeGreaterThan(0);
    expect(dirs.some((dir) => existsSync(path.join(dir, 'onnxruntime_binding.node')))).toBe(true);
    expect(findCudaProvider(dirs)).toBeUndefined();
  });
});

describe('chooseExecutionProvider', () => {
  it('uses the CPU provider for `cpu` without logging', () => {
    const logger = recordingLogger();
    expect(chooseExecutionProvider({ requested: 'cpu', logger })).toEqual({ name: 'cpu' });
    expect(logger.lines).toEqual([]);
  });

  it('refuses `cuda` when the CUDA provider is not installed, saying how to install it', () => {
    const logger = recordingLogger();
    expect(() => chooseExecutionProvider({ requested: 'cuda', logger })).toThrow(
      /libonnxruntime_providers_cuda\.so\) is not installed in .*onnxruntime-node\/bin\/napi-v\d+\/linux\/x64.*`npm run install:cuda`/,
    );
  });

  it('falls back from `auto` to the CPU provider with one log line', () => {
    const logger = recordingLogger();
    expect(chooseExecutionProvider({ requested: 'auto', logger })).toEqual({ name: 'cpu' });
    expect(logger.lines).toEqual([
      {
        level: 'info',
        obj: { executionProvider: 'cpu', requested: 'auto' },
        msg: 'CUDA provider not installed; using the CPU provider',
      },
    ]);
  });

  it('picks CUDA for `auto` and `cuda` when the provider library is present, with the device id', () => {
    const binDirs = [folderWithCudaProvider()];
    const logger = recordingLogger();
    expect(chooseExecutionProvider({ requested: 'auto', cudaDeviceId: 1, binDirs, logger })).toEqual({
      name: 'cuda',
      deviceId: 1,
    });
    expect(logger.lines.map((l) => l.msg)).toEqual(['CUDA provider found; using CUDA']);
    expect(chooseExecutionProvider({ requested: 'cuda', binDirs, logger })).toEqual({ name: 'cuda', deviceId: 0 });
    for (const dir of binDirs) rmSync(dir, { recursive: true });
  });

  it('rejects unknown providers and device ids with a message naming the option', () => {
    const logger = recordingLogger();
    expect(() => chooseExecutionProvider({ requested: 'gpu' as never, logger })).toThrow(
      new TypeError('Expected `executionProvider` to be one of `cpu`, `cuda`, `auto`, got `gpu` (string)'),
    );
    expect(() => chooseExecutionProvider({ requested: 'cuda', cudaDeviceId: -1, logger })).toThrow(
      new TypeError('Expected `cudaDeviceId` to be an integer >= 0, got `-1` (number)'),
    );
  });
});

describe('sessionOptionsFor', () => {
  it('sets every option explicitly for the CPU provider', () => {
    expect(sessionOptionsFor({ provider: { name: 'cpu' }, intraOpThreads: 2, allowSpinning: false })).toEqual({
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: true,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  });

  it('puts CUDA with its device first and the CPU provider after it, and passes spinning on', () => {
    const options = sessionOptionsFor({
      provider: { name: 'cuda', deviceId: 3 },
      intraOpThreads: 1,
      allowSpinning: true,
    });
    expect(options.executionProviders).toEqual([{ name: 'cuda', deviceId: 3 }, 'cpu']);
    expect(options.extra).toEqual({ session: { intra_op: { allow_spinning: '1' } } });
  });
});
