// Prometheus metrics (base units, via prom-client). Each app has its own Registry (tests build
// many apps in one process). Every resnet_* series is labelled by model and version; a
// classifier writes through its own bound view (classifier/model-metrics.ts) and removes its
// series when it is retired. The server observes HTTP times here.
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Metric names: published API for dashboards and the load/ scripts. */
export const METRIC_NAMES = {
  httpRequests: 'http_requests_total',
  httpDuration: 'http_request_duration_seconds',
  grpcHandled: 'grpc_server_handled_total',
  grpcDuration: 'grpc_server_handling_seconds',
  imagesClassified: 'resnet_images_classified_total',
  queueDepth: 'resnet_queue_depth',
  queueWait: 'resnet_queue_wait_seconds',
  preprocess: 'resnet_preprocess_seconds',
  inference: 'resnet_inference_seconds',
  workerInput: 'resnet_worker_input_seconds',
  workerTransfer: 'resnet_worker_transfer_seconds',
  endToEnd: 'resnet_end_to_end_seconds',
  batchSize: 'resnet_batch_size',
  rejections: 'resnet_rejections_total',
  workerRestarts: 'resnet_worker_restarts_total',
  ready: 'resnet_ready',
  modelInfo: 'resnet_model_info',
} as const;

/** The labels of every per-model series. */
// A type, not an interface: prom-client's label records need an implicit index signature.
export type ModelLabels = { readonly model: string; readonly version: string };
const MODEL = ['model', 'version'];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** The largest batch any model may use (MAX_BATCH_SIZE and config.json allow up to 64). */
const LARGEST_BATCH = 64;

/** One bucket per batch size up to 32 (so load reports read the exact distribution), then powers of two. */
export function batchSizeBuckets(maxBatchSize: number): number[] {
  if (maxBatchSize <= 32) return Array.from({ length: maxBatchSize }, (_, i) => i + 1);
  const buckets = Array.from({ length: 32 }, (_, i) => i + 1);
  for (let size = 64; size < maxBatchSize; size *= 2) buckets.push(size);
  return [...buckets, maxBatchSize];
}

export function createMetrics(maxBatchSize = LARGEST_BATCH) {
  const registry = new Registry();
  let readiness = (): readonly (ModelLabels & { ready: boolean })[] => [];
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const seconds = (name: string, help: string, labelNames: string[] = MODEL) =>
    new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });
  return {
    registry,
    httpRequests: new Counter({
      name: METRIC_NAMES.httpRequests,
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    }),
    httpDuration: seconds(METRIC_NAMES.httpDuration, 'HTTP request duration by route and status', [
      'method',
      'route',
      'status_code',
    ]),
    // The names and labels of go-grpc-prometheus, which gRPC dashboards expect.
    grpcHandled: new Counter({
      name: METRIC_NAMES.grpcHandled,
      help: 'gRPC calls finished, by method and status code',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    }),
    grpcDuration: seconds(METRIC_NAMES.grpcDuration, 'gRPC call duration by method', ['grpc_service', 'grpc_method']),
    imagesClassified: new Counter({
      name: METRIC_NAMES.imagesClassified,
      help: 'Images classified successfully, by model, version and API',
      labelNames: [...MODEL, 'api'],
      registers,
    }),
    queueDepth: new Gauge({
      name: METRIC_NAMES.queueDepth,
      help: 'Images waiting in the inference queue',
      labelNames: MODEL,
      registers,
    }),
    queueWait: seconds(METRIC_NAMES.queueWait, 'Time an image waited in the queue before its batch was dispatched'),
    preprocess: seconds(METRIC_NAMES.preprocess, 'Time to decode and preprocess one image'),
    inference: seconds(METRIC_NAMES.inference, 'Time to compute one batch (dispatch to results)'),
    workerInput: seconds(
      METRIC_NAMES.workerInput,
      "Time the engine's worker spent writing one batch's input (normalizing crops, copying tensors)",
    ),
    workerTransfer: seconds(
      METRIC_NAMES.workerTransfer,
      'Round trip of one batch to the worker thread minus the time inside it (messages, wake-ups)',
    ),
    endToEnd: seconds(METRIC_NAMES.endToEnd, "Time from request arrival to one image's result"),
    batchSize: new Histogram({
      name: METRIC_NAMES.batchSize,
      help: 'Images per computed batch',
      labelNames: MODEL,
      buckets: batchSizeBuckets(maxBatchSize),
      registers,
    }),
    rejections: new Counter({
      name: METRIC_NAMES.rejections,
      help: 'Rejected images or requests by model, version and reason (registry code)',
      labelNames: [...MODEL, 'reason'],
      registers,
    }),
    workerRestarts: new Counter({
      name: METRIC_NAMES.workerRestarts,
      help: 'Inference worker restarts after a crash',
      labelNames: MODEL,
      registers,
    }),
    ready: new Gauge({
      name: METRIC_NAMES.ready,
      help: '1 when the model version is loaded, warm and the server is not draining',
      labelNames: MODEL,
      registers,
      collect() {
        this.reset();
        for (const { ready, ...labels } of readiness()) this.set(labels, ready ? 1 : 0);
      },
    }),
    /** Where the ready gauge reads from at each scrape: every model version the registry holds. */
    setReadinessSource(source: () => readonly (ModelLabels & { ready: boolean })[]): void {
      readiness = source;
    },
    modelInfo: new Gauge({
      name: METRIC_NAMES.modelInfo,
      help: 'The served model versions (value is always 1)',
      labelNames: [...MODEL, 'weights', 'classes'],
      registers,
    }),
  };
}

export type ServiceMetrics = ReturnType<typeof createMetrics>;

export const metricsPlugin = fp(
  async (app) => {
    app.decorate('metrics', createMetrics());
    app.addHook('onResponse', async (request, reply) => {
      // Unmatched URLs share one label so scanners cannot blow up the series count.
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      };
      app.metrics.httpRequests.inc(labels);
      app.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    });
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(app.metrics.registry.contentType);
      return app.metrics.registry.metrics();
    });
  },
  { name: 'metrics' },
);

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Prometheus series; the model registry hands each classifier its bound view. */
    readonly metrics: ServiceMetrics;
  }
}
