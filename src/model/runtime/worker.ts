// The worker thread that owns the onnxruntime session. onnxruntime-node's run() computes
// synchronously on the calling thread (dist/backend.js: binding run() inside setImmediate), so on
// the main thread one ResNet-50 batch would freeze HTTP parsing, health checks and metrics for its
// whole duration. Here it only blocks this thread.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { normalizeInto } from '../../preprocess/normalize.ts';
import { deviation, referenceInput } from '../self-check.ts';
import { SLOT_KIND, type Batch, type FromWorker, type ToWorker, type WorkerInit } from './protocol.ts';

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('worker.ts must run in a worker thread');

const [, height, width] = init.imageShape as [number, number, number];
const imageLength = init.imageShape.reduce((a, b) => a * b, 1);
/** Bytes of one staged crop, [height, width, 3] (staging.ts lays its slots out so). */
const pixelLength = height * width * 3;
/** The model's input, this thread's own: filled from the staging buffers before each run. */
const input = new Float32Array(init.staging.tensors.length);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function open(): Promise<ort.InferenceSession> {
  const session = await ort.InferenceSession.create(init.modelPath, init.sessionOptions);
  const missing = [init.inputName, init.logitsName, init.probabilitiesName].filter(
    (name) => !session.inputNames.includes(name) && !session.outputNames.includes(name),
  );
  if (missing.length > 0) {
    throw new Error(
      `${init.modelPath} has no tensor named ${missing.join(', ')} (inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')})`,
    );
  }
  return session;
}

async function compute(session: ort.InferenceSession, input: Float32Array, size: number) {
  const feeds = { [init.inputName]: new ort.Tensor('float32', input, [size, ...init.imageShape]) };
  const outputs = await session.run(feeds, [init.logitsName, init.probabilitiesName]);
  return { logits: outputs[init.logitsName]?.data, probabilities: outputs[init.probabilitiesName]?.data };
}

async function warmUp(session: ort.InferenceSession): Promise<void> {
  for (const size of init.warmupBatchSizes) {
    const { logits, probabilities } = await compute(session, input.subarray(0, size * imageLength), size);
    // A model paired with the wrong manifest would otherwise label its outputs with the wrong names.
    for (const [name, output] of [
      [init.logitsName, logits],
      [init.probabilitiesName, probabilities],
    ] as const) {
      const perImage = (output?.length ?? 0) / size;
      if (perImage !== init.classes) {
        throw new Error(
          `${init.modelPath} gives ${perImage} values per image in \`${name}\`, but its manifest lists ${init.classes} labels`,
        );
      }
    }
  }
}

/** Recomputes the manifest's reference logits; a model that computes otherwise does not start. */
async function selfCheck(session: ort.InferenceSession): Promise<void> {
  const check = init.selfCheck;
  if (check === undefined) return;
  const [, height, width] = init.imageShape as [number, number, number];
  const { logits } = await compute(session, referenceInput(height, width), 1);
  const d = deviation(check.logits, (logits as Float32Array | undefined) ?? []);
  if (!(d.relative <= check.tolerance)) {
    throw new Error(
      `Model ${check.model} (${check.precision}) failed its startup self-check: its logits for the reference input differ from the manifest's by up to ${d.maxAbsDiff.toPrecision(3)} (${d.relative.toPrecision(3)} of max|logit| ${d.maxAbsLogit.toPrecision(3)}), over the ${check.precision} tolerance of ${check.tolerance}. The file may be damaged or paired with another model's manifest, or this CPU computes it differently: rebuild it here (npm run build:model) and compare.`,
    );
  }
}

function transferList(...arrays: Float32Array[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/**
 * Copies each ready tensor of the batch into its slot of the input and normalizes each crop
 * straight into its slot: the one write of an uploaded image's tensor.
 */
function fillInput(batch: Batch): Float32Array {
  const { tensors, pixels } = init.staging;
  for (let i = 0; i < batch.size; i++) {
    const at = i * imageLength;
    if (batch.kinds[i] === SLOT_KIND.pixels) {
      const slot = batch.slots[i] as number;
      const data = pixels.subarray(slot * pixelLength, (slot + 1) * pixelLength);
      normalizeInto({ data, width, height, left: 0, top: 0 }, width, init.preprocess, input, at);
    } else input.set(tensors.subarray(at, at + imageLength), at);
  }
  return input.subarray(0, batch.size * imageLength);
}

async function handleRun(session: ort.InferenceSession, message: Extract<ToWorker, { type: 'run' }>) {
  const started = performance.now();
  try {
    const input = fillInput(message);
    const inputMs = performance.now() - started;
    const { logits, probabilities } = await compute(session, input, message.size);
    if (!(logits instanceof Float32Array) || !(probabilities instanceof Float32Array)) {
      throw new Error('The model did not return float32 logits and probabilities');
    }
    const computeMs = performance.now() - started;
    post(
      { type: 'result', id: message.id, logits, probabilities, computeMs, inputMs },
      transferList(logits, probabilities),
    );
  } catch (error) {
    post({ type: 'runFailed', id: message.id, message: errorMessage(error) });
  }
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  const started = performance.now();
  try {
    session = await open();
    await warmUp(session);
    await selfCheck(session);
  } catch (error) {
    post({ type: 'initFailed', message: errorMessage(error) });
    port?.close();
    return;
  }
  port?.on('message', (message: ToWorker) => {
    if (message.type === 'run') {
      void handleRun(session, message);
    } else {
      void session.release().finally(() => port?.close());
    }
  });
  post({ type: 'ready', warmupMs: performance.now() - started });
}

void main();
