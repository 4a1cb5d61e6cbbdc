// What the factory needs to make one classifier: which model version, where its file is, and its
// batching settings (a repository model's config.json, else the server's configuration).
import type { Config } from '../config.ts';

export interface BatchSettings {
  readonly maxBatchSize: number;
  readonly maxBatchDelayMs: number;
  readonly maxQueue: number;
}

export interface ClassifierSpec {
  readonly name: string;
  readonly version: number;
  readonly modelPath: string;
  readonly settings: BatchSettings;
  /** The model file as reasons and logs name it: relative to the repository (no absolute paths in the API). */
  readonly label: string;
  /** Changes when the files behind this version change (poll and load reload it then). */
  readonly signature: string;
}

/** The server-wide settings every classifier shares (engine, limits, deadlines). */
export type ServerSettings = Pick<
  Config,
  | 'executionProvider'
  | 'cudaDeviceId'
  | 'intraOpThreads'
  | 'modelInstances'
  | 'ortAllowSpinning'
  | 'requestTimeoutMs'
  | 'maxImageBytes'
  | 'maxImagePixels'
  | 'maxImagesPerRequest'
>;

export function batchSettingsOf(config: BatchSettings): BatchSettings {
  return { maxBatchSize: config.maxBatchSize, maxBatchDelayMs: config.maxBatchDelayMs, maxQueue: config.maxQueue };
}
