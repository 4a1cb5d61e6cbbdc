// A graph under construction: values with known shapes, nodes, initializers and a scope stack so
// that every shape error names the block it came from ("layer2.0.conv2: Conv: ..."). Operator
// functions live in ops.ts; this file only records what they add.
import { endianness } from 'node:os';
import type { AttributeValue, Dim, ElementType, GraphDef, NodeDef, TensorDef, ValueInfoDef } from './model-def.ts';

/** A tensor in the graph, with the shape inferred when it was made. */
export interface Value {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly type: ElementType;
}

export class GraphShapeError extends Error {
  readonly code = 'GRAPH_SHAPE_ERROR';
  readonly scope: string;
  constructor(scope: string, message: string) {
    super(scope ? `${scope}: ${message}` : message);
    this.name = 'GraphShapeError';
    this.scope = scope;
  }
}

// ONNX raw_data is little-endian; every supported Node platform (x64, arm64) is too.
const HOST_IS_LE = endianness() === 'LE';

/** The typed arrays an initializer can hold, by ONNX element type. */
export type TensorData = Float32Array | BigInt64Array | Int8Array | Uint8Array | Int32Array;

function elementType(data: TensorData): ElementType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  return 'int32';
}

function leBytes(data: TensorData): Uint8Array {
  if (!HOST_IS_LE) throw new Error('big-endian hosts are not supported: ONNX raw_data is little-endian');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class Graph {
  readonly name: string;
  #nodes: NodeDef[] = [];
  #initializers: TensorDef[] = [];
  #inputs: ValueInfoDef[] = [];
  #outputs: ValueInfoDef[] = [];
  #names = new Set<string>();
  #scopes: string[] = [];
  #storedFloats = 0;
  #storedInt8 = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** The current block name, e.g. "layer2.0.conv1". */
  get scope(): string {
    return this.#scopes.join('.');
  }

  /** Number of float32 values held in initializers. */
  get storedFloats(): number {
    return this.#storedFloats;
  }

  /** Number of int8 values held in initializers (quantized weights and their zero points). */
  get storedInt8(): number {
    return this.#storedInt8;
  }

  withScope<T>(name: string, build: () => T): T {
    this.#scopes.push(name);
    try {
      return build();
    } finally {
      this.#scopes.pop();
    }
  }

  fail(message: string): never {
    throw new GraphShapeError(this.scope, message);
  }

  input(name: string, shape: readonly Dim[], type: ElementType = 'float32'): Value {
    this.#claim(name);
    this.#inputs.push({ name, elementType: type, shape });
    return { name, shape, type };
  }

  output(value: Value): void {
    this.#outputs.push({ name: value.name, elementType: value.type, shape: value.shape });
  }

  initializer(name: string, dims: readonly number[], data: TensorData): Value {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected)
      this.fail(`initializer ${name} has ${data.length} values, shape [${dims.join(',')}] needs ${expected}`);
    this.#claim(name);
    const type = elementType(data);
    if (type === 'float32') this.#storedFloats += data.length;
    if (type === 'int8') this.#storedInt8 += data.length;
    this.#initializers.push({ name, dataType: type, dims: [...dims], rawData: leBytes(data) });
    return { name, shape: [...dims], type };
  }

  /** A constant int64 vector, named after the current scope (Slice/Pad take these as inputs). */
  constInt64(suffix: string, values: readonly number[]): Value {
    return this.initializer(
      this.#free(`${this.scope || 'graph'}.${suffix}`),
      [values.length],
      BigInt64Array.from(values.map(BigInt)),
    );
  }

  /** Adds one node with one output; `outputName` fixes the name (graph outputs), else it is derived. */
  node(
    opType: string,
    inputs: readonly (Value | undefined)[],
    out: { shape: readonly Dim[]; type?: ElementType; name?: string | undefined },
    attributes: Record<string, AttributeValue> = {},
  ): Value {
    const nodeName = this.#unique(`${this.scope || 'graph'}/${opType}`);
    const outName = out.name ?? nodeName;
    if (out.name !== undefined) this.#claim(outName);
    this.#nodes.push({
      name: nodeName,
      opType,
      inputs: inputs.map((v) => v?.name ?? ''),
      outputs: [outName],
      attributes,
    });
    return { name: outName, shape: out.shape, type: out.type ?? 'float32' };
  }

  toDef(): GraphDef {
    return {
      name: this.name,
      nodes: this.#nodes,
      initializers: this.#initializers,
      inputs: this.#inputs,
      outputs: this.#outputs,
    };
  }

  #claim(name: string): void {
    if (this.#names.has(name)) this.fail(`the name ${name} is used twice`);
    this.#names.add(name);
  }

  /** `base`, or `base_1`, `base_2`, ... : the first name not taken yet (not reserved). */
  #free(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i++) name = `${base}_${i}`;
    return name;
  }

  #unique(base: string): string {
    const name = this.#free(base);
    this.#names.add(name);
    return name;
  }
}
