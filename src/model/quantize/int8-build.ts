// The int8 half of a build: the FP32 network built as a calibration probe, run over the
// calibration images, and a QdqQuantizer holding the ranges it measured. build.ts then builds the
// network once more with that quantizer.
import { encodeModel } from '../onnx/codec.ts';
import { Graph } from '../onnx/graph.ts';
import { IR_VERSION, OPSET_VERSION, PRODUCER_NAME } from '../onnx/opset.ts';
import type { CalibrationRecord } from '../manifest.ts';
import { buildResNet, INPUT_SIZE, type ResNetOptions } from '../resnet.ts';
import type { WeightSource } from '../weights/source.ts';
import { calibrate, CALIBRATION_METHOD } from './calibrate.ts';
import { loadCalibrationSet } from './calibration-images.ts';
import { CalibrationProbe } from './probe.ts';
import { QdqQuantizer } from './qdq.ts';

export interface CalibrationOptions {
  /** A directory of images; undefined: the built-in set. */
  readonly dir: string | undefined;
  /** The first N images by name; undefined: all (up to DEFAULT_CALIBRATION_COUNT). */
  readonly count: number | undefined;
}

export async function calibratedQuantizer(
  architecture: ResNetOptions,
  weights: WeightSource,
  options: CalibrationOptions,
  progress: (step: string, done: number, total: number) => void,
): Promise<{ quantizer: QdqQuantizer; calibration: CalibrationRecord }> {
  progress('read calibration images', 0, 1);
  const set = await loadCalibrationSet(options.dir, options.count);
  const g = new Graph('calibration');
  const probe = new CalibrationProbe();
  buildResNet(g, architecture, weights, undefined, probe);
  for (const { value } of probe.tensors) if (value.name !== 'input') g.output(value);
  const model = encodeModel({
    irVersion: IR_VERSION,
    opsetVersion: OPSET_VERSION,
    producerName: PRODUCER_NAME,
    producerVersion: '',
    docString: 'calibration probe (never written)',
    graph: g.toDef(),
    metadata: [],
  });
  progress('calibrate', 0, set.tensors.length);
  const ranges = await calibrate(
    model,
    'input',
    probe.tensors,
    set.tensors,
    [3, INPUT_SIZE, INPUT_SIZE],
    (done, total) => progress('calibrate', done, total),
  );
  const calibration: CalibrationRecord = {
    method: CALIBRATION_METHOD,
    count: set.tensors.length,
    sha256: set.sha256,
    source: set.dir === undefined ? 'built-in' : 'directory',
    ranges: Object.fromEntries([...ranges].map(([site, [lo, hi]]) => [site, [lo, hi] as const])),
  };
  return { quantizer: new QdqQuantizer(ranges), calibration };
}
