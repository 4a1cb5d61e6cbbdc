// The series of one model version: the service's metrics bound to its model and version labels,
// fed by its engine's stats events (the engine never imports prom-client) and by the classifier's
// own observations (preprocessing, end-to-end, images, refusals). remove() ends every series it
// wrote, so a retired version leaves no stale values in /metrics.
import type { EngineStats } from '../../model/runtime/stats.ts';
import type { ModelLabels, ServiceMetrics } from '../plugins/metrics.ts';

/** The series of one model version, as its classifier writes them. */
export function modelMetrics(metrics: ServiceMetrics, labels: ModelLabels) {
  // The extra label values this version used, so that remove() can end every one of its series.
  const apis = new Set<string>();
  const reasons = new Set<string>();
  const info: { weights: string; classes: string }[] = [];
  const plain = [
    metrics.queueDepth,
    metrics.queueWait,
    metrics.preprocess,
    metrics.inference,
    metrics.workerInput,
    metrics.workerTransfer,
    metrics.endToEnd,
    metrics.batchSize,
    metrics.workerRestarts,
  ] as const;
  return {
    labels,
    queueDepth: metrics.queueDepth.labels(labels),
    queueWait: metrics.queueWait.labels(labels),
    preprocess: metrics.preprocess.labels(labels),
    inference: metrics.inference.labels(labels),
    workerInput: metrics.workerInput.labels(labels),
    workerTransfer: metrics.workerTransfer.labels(labels),
    endToEnd: metrics.endToEnd.labels(labels),
    batchSize: metrics.batchSize.labels(labels),
    workerRestarts: metrics.workerRestarts.labels(labels),
    imagesClassified(api: string, count: number): void {
      apis.add(api);
      metrics.imagesClassified.inc({ ...labels, api }, count);
    },
    rejection(code: string): void {
      const reason = code.toLowerCase();
      reasons.add(reason);
      metrics.rejections.inc({ ...labels, reason });
    },
    info(weights: 'trained' | 'seeded', classes: number): void {
      info.push({ weights, classes: String(classes) });
      metrics.modelInfo.set({ ...labels, ...info.at(-1) }, 1);
    },
    /** Ends the version's series: a retired version leaves no stale values behind. */
    remove(): void {
      for (const metric of plain) metric.remove(labels);
      for (const api of apis) metrics.imagesClassified.remove({ ...labels, api });
      for (const reason of reasons) metrics.rejections.remove({ ...labels, reason });
      for (const entry of info) metrics.modelInfo.remove({ ...labels, ...entry });
    },
  };
}

export type ModelMetrics = ReturnType<typeof modelMetrics>;

/** Subscribes a model version's metrics to its engine's stats events. */
export function observeEngine(metrics: ModelMetrics, stats: EngineStats): void {
  stats.on('queueDepth', (depth) => metrics.queueDepth.set(depth));
  stats.on('queueWait', (s) => metrics.queueWait.observe(s));
  stats.on('batch', ({ size, computeSeconds }) => {
    metrics.batchSize.observe(size);
    metrics.inference.observe(computeSeconds);
  });
  stats.on('worker', ({ inputSeconds, transferSeconds }) => {
    metrics.workerInput.observe(inputSeconds);
    metrics.workerTransfer.observe(transferSeconds);
  });
  stats.on('rejection', (code) => metrics.rejection(code));
  stats.on('workerRestart', () => metrics.workerRestarts.inc());
}
