// Plain data for an ONNX model: what the graph builder produces and the codec serialises. Nothing
// here knows about protobuf; codec.ts is the only file that does.

/** A dimension: a fixed size or a symbolic name such as 'batch'. */
export type Dim = number | string;

// int8/uint8/int32 hold quantized weights, activations' zero points and conv biases (QDQ models).
export const ELEMENT_TYPES = ['float32', 'int64', 'int8', 'uint8', 'int32'] as const;
export type ElementType = (typeof ELEMENT_TYPES)[number];

export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string };

export interface NodeDef {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** An initializer: little-endian raw bytes, as ONNX's raw_data field stores them. */
export interface TensorDef {
  readonly name: string;
  readonly dataType: ElementType;
  readonly dims: readonly number[];
  readonly rawData: Uint8Array;
}

export interface ValueInfoDef {
  readonly name: string;
  readonly elementType: ElementType;
  readonly shape: readonly Dim[];
}

export interface GraphDef {
  readonly name: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorDef[];
  readonly inputs: readonly ValueInfoDef[];
  readonly outputs: readonly ValueInfoDef[];
}

export interface ModelDef {
  readonly irVersion: number;
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  readonly graph: GraphDef;
  /** metadata_props, in the order given (kept stable for byte-identical files). */
  readonly metadata: readonly (readonly [string, string])[];
}
