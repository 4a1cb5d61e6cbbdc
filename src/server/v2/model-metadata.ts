// V2 model metadata ($metadata_model_response), built in one place for every transport that
// reports it (GET /v2/models/{m}, and the gRPC ModelMetadata RPC).
import type { Classifier } from '../classifier/classifier.ts';

export const PLATFORM = 'onnxruntime_onnx';

export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: number[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: string[];
  readonly platform: string;
  /** Not in the V2 protocol's model metadata: this service's `fp32` or `int8` (clients ignore unknown fields). */
  readonly precision: string;
  readonly inputs: TensorMetadata[];
  readonly outputs: TensorMetadata[];
}

/** The metadata of a classifier's model; `versions`: the versions served (the classifier's own when none is ready yet). */
export function modelMetadata(classifier: Classifier, versions: readonly number[]): ModelMetadata {
  const tensor = ({ name, datatype, shape }: { name: string; datatype: string; shape: readonly number[] }) => ({
    name,
    datatype,
    shape: [...shape],
  });
  const { manifest } = classifier;
  return {
    name: classifier.name,
    versions: (versions.length > 0 ? versions : [classifier.version]).map(String),
    platform: PLATFORM,
    precision: manifest.precision,
    inputs: manifest.inputs.map(tensor),
    outputs: manifest.outputs.map(tensor),
  };
}
