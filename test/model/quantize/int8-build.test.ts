// The int8 build: deterministic, QDQ in the layout onnxruntime fuses, recorded in the manifest, and
// clear about bad calibration input.
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, type BuiltModel } from '../../../src/model/build.ts';
import { decodeModel } from '../../../src/model/onnx/codec.ts';
import type { ModelDef, TensorDef } from '../../../src/model/onnx/model-def.ts';
import { ModelOptionsError } from '../../../src/model/options.ts';
import {
  BUILT_IN_CALIBRATION_DIR,
  CalibrationImagesError,
  calibrationDigest,
} from '../../../src/model/quantize/calibration-images.ts';
import { TINY_MODEL_OPTIONS } from '../../global-setup.ts';
import { opCounts } from './helpers.ts';

const tiny = { ...TINY_MODEL_OPTIONS, precision: 'int8' } as const;
const scratch = (): string => mkdtempSync(join(tmpdir(), 'int8-calibration-'));

describe('an int8 build of the tiny model', () => {
  let built: BuiltModel;
  let model: ModelDef;
  let fp32: ModelDef;
  beforeAll(async () => {
    built = await buildModel(tiny);
    model = decodeModel(built.onnx);
    fp32 = decodeModel((await buildModel(TINY_MODEL_OPTIONS)).onnx);
  });

  it('is byte-identical for the same weights, images and flags, whatever the files are called', async () => {
    expect(Buffer.from((await buildModel(tiny)).onnx).equals(Buffer.from(built.onnx))).toBe(true);
    const renamed = scratch();
    for (const [i, name] of readdirSync(BUILT_IN_CALIBRATION_DIR)
      .filter((n) => n.endsWith('.jpg'))
      .entries())
      copyFileSync(join(BUILT_IN_CALIBRATION_DIR, name), join(renamed, `photo-${99 - i}.jpg`));
    const again = await buildModel({ ...tiny, calibrationDir: renamed });
    expect(again.manifest.calibration?.sha256).toBe(built.manifest.calibration?.sha256);
    expect(again.manifest.calibration?.source).toBe('directory');
    expect(Buffer.from(again.onnx).equals(Buffer.from(built.onnx))).toBe(false); // the manifest says `directory`
    expect(again.manifest.calibration?.ranges).toEqual(built.manifest.calibration?.ranges);
  });

  it('records precision, calibration and the self-check reference in the manifest', async () => {
    const m = built.manifest;
    expect(m.precision).toBe('int8');
    expect(m.name).toBe('resnet50-w0.125-c10-int8');
    const images = readdirSync(BUILT_IN_CALIBRATION_DIR).filter((n) => n.endsWith('.jpg')).length;
    expect(m.calibration).toMatchObject({ method: 'minmax', count: images, source: 'built-in' });
    expect(m.calibration?.sha256).toBe(await calibrationDigest(undefined, undefined));
    // One range per quantization site: input, 53 convs, 16 blocks.
    expect(Object.keys(m.calibration?.ranges ?? {})).toHaveLength(1 + 53 + 16);
    expect(m.calibration?.ranges['layer1.0.conv1']?.[0]).toBe(0);
    expect(m.reference?.logits).toHaveLength(10);
    const embedded = JSON.parse(model.metadata[0]![1]) as Record<string, unknown>;
    expect(embedded).toMatchObject({ precision: 'int8', calibration: m.calibration });
    expect(embedded.reference).toBeUndefined();
  });

  it('quantizes every conv and block of the FP32 graph with Q/DQ pairs and drops the ReLU after each add', () => {
    const float = opCounts(fp32.graph);
    const counts = opCounts(model.graph);
    expect(counts.Conv).toBe(float.Conv);
    expect(counts.Add).toBe(float.Add);
    // A Q/DQ pair after the input, every conv, every add and the max pool; a DQ for each conv's weight and bias.
    const sites = (float.Conv ?? 0) + (float.Add ?? 0) + 2;
    expect(counts.QuantizeLinear).toBe(sites);
    expect(counts.DequantizeLinear).toBe(sites + 2 * (float.Conv ?? 0));
    expect(counts.Relu).toBe((float.Relu ?? 0) - (float.Add ?? 0));
    const producer = new Map(model.graph.nodes.map((n) => [n.outputs[0], n]));
    for (const add of model.graph.nodes.filter((n) => n.opType === 'Add'))
      for (const input of add.inputs) expect(producer.get(input)?.opType).toBe('DequantizeLinear');
  });

  it('stores uint8 activations (zero point 0 after every ReLU), int8 per-channel weights and int32 biases', () => {
    const init = new Map<string, TensorDef>(model.graph.initializers.map((t) => [t.name, t]));
    const byOutput = new Map(model.graph.nodes.map((n) => [n.outputs[0], n]));
    for (const q of model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear')) {
      const zp = init.get(q.inputs[2]!);
      expect(zp?.dataType).toBe('uint8');
      if (byOutput.get(q.inputs[0])?.opType === 'Relu' || byOutput.get(q.inputs[0])?.opType === 'Add')
        expect(zp?.rawData[0]).toBe(0);
    }
    for (const c of model.graph.nodes.filter((n) => n.opType === 'Conv')) {
      const [w, b] = [byOutput.get(c.inputs[1]), byOutput.get(c.inputs[2])];
      expect(w?.attributes.axis).toEqual({ kind: 'int', value: 0 });
      expect(init.get(w!.inputs[0]!)?.dataType).toBe('int8');
      expect(Array.from(init.get(w!.inputs[2]!)!.rawData).every((v) => v === 0)).toBe(true);
      expect(init.get(b!.inputs[0]!)?.dataType).toBe('int32');
    }
    expect(model.graph.inputs[0]).toMatchObject({ name: 'input', elementType: 'float32' });
    expect(model.graph.outputs.map((o) => [o.name, o.elementType])).toEqual([
      ['logits', 'float32'],
      ['probabilities', 'float32'],
    ]);
  });
});

describe('int8 build options and calibration input', () => {
  const calibrationError = async (dir: string, count?: number): Promise<CalibrationImagesError> => {
    const err: unknown = await buildModel({ ...tiny, calibrationDir: dir, calibrationCount: count }).catch((e) => e);
    expect(err).toBeInstanceOf(CalibrationImagesError);
    expect((err as CalibrationImagesError).code).toBe('CALIBRATION_IMAGES_INVALID');
    return err as CalibrationImagesError;
  };

  it('refuses a directory that does not exist or is not a directory, naming it', async () => {
    const missing = join(scratch(), 'nope');
    expect((await calibrationError(missing)).message).toContain(`Cannot read the calibration directory ${missing}`);
    const file = join(scratch(), 'photo.jpg');
    copyFileSync(join(BUILT_IN_CALIBRATION_DIR, 'coffee.jpg'), file);
    expect((await calibrationError(file)).message).toMatch(new RegExp(`${file}: ENOTDIR`));
  });

  it('refuses a directory without image files, saying what it holds', async () => {
    const empty = scratch();
    expect((await calibrationError(empty)).message).toMatch(/holds no image files .* it is empty/);
    writeFileSync(join(empty, 'notes.txt'), 'hello');
    expect((await calibrationError(empty)).message).toContain('it holds: notes.txt');
  });

  it('refuses images that do not decode, naming every one of them', async () => {
    const dir = scratch();
    copyFileSync(join(BUILT_IN_CALIBRATION_DIR, 'coffee.jpg'), join(dir, 'a-good.jpg'));
    writeFileSync(join(dir, 'b-text.jpg'), 'not an image');
    writeFileSync(join(dir, 'c-truncated.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    const err = await calibrationError(dir);
    expect(err.message).toMatch(/2 of 3 calibration images could not be used/);
    expect(err.message).toContain(join(dir, 'b-text.jpg'));
    expect(err.message).toContain(join(dir, 'c-truncated.png'));
    expect(err.message).not.toContain('a-good.jpg');
  });

  it('refuses a count larger than the set and takes the first N by name otherwise', async () => {
    const dir = scratch();
    for (const name of ['coffee.jpg', 'chelsea.jpg'])
      copyFileSync(join(BUILT_IN_CALIBRATION_DIR, name), join(dir, name));
    expect((await calibrationError(dir, 3)).message).toContain('asks for more images than the 2');
    const one = await buildModel({ ...tiny, calibrationDir: dir, calibrationCount: 1 });
    expect(one.manifest.calibration?.count).toBe(1);
  });

  it.each([
    [{ precision: 'int8', foldBatchNorm: false }, /foldBatchNorm.*precision int8/],
    [{ precision: 'fp32', calibrationDir: 'x' }, /calibration.*only with precision int8/],
    [{ precision: 'int4' }, /precision.*fp32, int8/],
    [{ precision: 'int8', calibrationCount: 0 }, /calibrationCount/],
  ] as const)('refuses %o', async (options, message) => {
    const err: unknown = await buildModel({ ...TINY_MODEL_OPTIONS, ...options } as never).catch((e) => e);
    expect(err).toBeInstanceOf(ModelOptionsError);
    expect((err as Error).message).toMatch(message);
  });
});
