// The real inference worker (src/model/runtime/worker.ts) with faults on cue, armed from a test by
// a WorkerFaults (worker-faults.ts) over the BroadcastChannel named in this module's `channel`
// query parameter. "Exit after the next batch" holds back the worker's next `result` message and
// exits instead, so the batch is computed but never answered.
import { BroadcastChannel, parentPort } from 'node:worker_threads';
import type { FromWorker } from '../../../src/model/runtime/protocol.ts';
import type { FaultArmed, FaultRequest } from './worker-faults.ts';

const name = new URL(import.meta.url).searchParams.get('channel');
const port = parentPort;
if (name === null || port === null) throw new Error('faulty-worker.ts runs as an engine worker, with ?channel=<name>');

const channel = new BroadcastChannel(name);
// The real worker ends its thread by closing its port; an open channel would keep the thread alive.
channel.unref();

let exitCodeAfterNextBatch: number | undefined;
const postMessage = port.postMessage.bind(port);
port.postMessage = (message: FromWorker, transfer) => {
  if (message.type === 'result' && exitCodeAfterNextBatch !== undefined) process.exit(exitCodeAfterNextBatch);
  postMessage(message, transfer);
};

channel.onmessage = (event) => {
  const message = event.data as FaultRequest | FaultArmed;
  // The other workers of the engine hear each other's "armed" answers on the channel too.
  if (!('fault' in message)) return;
  const request = message;
  if (request.claim !== undefined && Atomics.compareExchange(new Int32Array(request.claim), 0, 0, 1) !== 0) return;
  if (request.fault === 'exitNow') process.exit(request.exitCode);
  exitCodeAfterNextBatch = request.exitCode;
  channel.postMessage({ armed: request.id } satisfies FaultArmed);
};

// Imported only now, so that its first message already goes through the wrapped postMessage.
await import('../../../src/model/runtime/worker.ts');
