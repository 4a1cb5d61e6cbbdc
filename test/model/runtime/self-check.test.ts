// The startup self-check through the real worker and onnxruntime: warm-up recomputes the manifest's
// reference logits, and a model that does not reproduce them within its precision's tolerance never
// becomes ready.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ModelManifest } from '../../../src/model/manifest.ts';
import { decodeModel, encodeModel } from '../../../src/model/onnx/codec.ts';
import { createEngine, type Engine } from '../../../src/model/runtime/engine.ts';
import { SELF_CHECK_TOLERANCE } from '../../../src/model/self-check.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'self-check-'));
const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

const manifestOf = (modelPath: string): ModelManifest & Record<string, unknown> =>
  JSON.parse(readFileSync(modelPath.replace(/\.onnx$/, '.json'), 'utf8'));

/** A copy of a model under `name`, with its manifest edited by `edit` and its bytes by `bytes`. */
function copyOf(
  modelPath: string,
  name: string,
  edit: (m: ModelManifest & Record<string, unknown>) => object = (m) => m,
  bytes?: (onnx: Uint8Array) => Uint8Array,
): string {
  const copy = path.join(dir, `${name}.onnx`);
  if (bytes) writeFileSync(copy, bytes(readFileSync(modelPath)));
  else copyFileSync(modelPath, copy);
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(edit(manifestOf(modelPath))));
  return copy;
}

async function start(modelPath: string, warnings: object[] = []): Promise<Engine> {
  const logger = { info: () => {}, warn: (obj: object) => warnings.push(obj), error: () => {} };
  const engine = await createEngine({
    modelPath,
    executionProvider: 'cpu',
    intraOpThreads: 1,
    allowSpinning: false,
    maxBatchSize: 2,
    maxBatchDelayMs: 0,
    maxQueue: 8,
    defaultDeadlineMs: 30_000,
    logger,
  });
  engines.push(engine);
  return engine;
}

/** The reference logits with the largest one moved by `fraction` of max|logit|. */
function shifted(m: ModelManifest, fraction: number): ModelManifest {
  const logits = [...(m.reference?.logits ?? [])];
  const max = Math.max(...logits.map(Math.abs));
  const at = logits.findIndex((v) => Math.abs(v) === max);
  logits[at] = (logits[at] ?? 0) + fraction * max;
  return { ...m, reference: { input: 'pattern-v1', logits } };
}

describe('the startup self-check', () => {
  it('passes for the FP32 and the int8 model as built, which then classify', async () => {
    for (const modelPath of [inject('tinyModelPath'), inject('tinyInt8ModelPath')]) {
      const engine = await start(modelPath);
      expect(engine.ready).toBe(true);
      expect((await engine.infer(new Float32Array(3 * 224 * 224))).logits).toHaveLength(10);
    }
    expect((await start(inject('tinyInt8ModelPath'))).manifest.precision).toBe('int8');
  });

  it.each([
    ['fp32', inject('tinyModelPath')],
    ['int8', inject('tinyInt8ModelPath')],
  ] as const)('refuses a %s model whose stored reference outputs were altered', async (precision, modelPath) => {
    const tolerance = SELF_CHECK_TOLERANCE[precision];
    // Inside the tolerance: starts. Twice the tolerance: refused, with the model, difference and tolerance named.
    await expect(
      start(copyOf(modelPath, `${precision}-nudged`, (m) => shifted(m, tolerance / 2))),
    ).resolves.toBeDefined();
    const altered = copyOf(modelPath, `${precision}-altered`, (m) => shifted(m, 2 * tolerance));
    const name = manifestOf(modelPath).name.replace(/\./g, '\\.');
    await expect(start(altered)).rejects.toThrow(
      new RegExp(
        `Model ${name} \\(${precision}\\) failed its startup self-check: .* by up to [\\d.]+ \\([\\d.]+ of max\\|logit\\| [\\d.]+\\), over the ${precision} tolerance of ${tolerance}\\.`,
      ),
    );
  });

  it('refuses an int8 file whose weights were damaged, paired with its own manifest', async () => {
    const damaged = copyOf(inject('tinyInt8ModelPath'), 'int8-damaged', undefined, (onnx) => {
      const model = decodeModel(onnx);
      const initializers = model.graph.initializers.map((t) =>
        t.name === 'layer1.0.conv2.weight_quantized' ? { ...t, rawData: new Uint8Array(t.rawData).reverse() } : t,
      );
      return encodeModel({ ...model, graph: { ...model.graph, initializers } });
    });
    await expect(start(damaged)).rejects.toThrow(/failed its startup self-check/);
  });

  it('loads a manifest written before precisions existed as fp32 and starts without a self-check', async () => {
    const legacy = copyOf(inject('tinyModelPath'), 'legacy', ({ precision: _p, reference: _r, ...rest }) => rest);
    const warnings: object[] = [];
    const engine = await start(legacy, warnings);
    expect(engine.ready).toBe(true);
    expect(engine.manifest.precision).toBe('fp32');
    expect(warnings).toEqual([{ model: engine.manifest.name }]);
  });
});
