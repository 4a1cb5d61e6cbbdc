// A client not written by us: Debian's python3-grpcio (/usr/bin/python3) with stubs generated at
// test time by grpc_tools.protoc from the server's own .proto files, so a field renamed or
// renumbered there breaks what a generated client sends. The answers are compared with the
// engine asked directly and with the REST route. CI installs python3-grpcio and
// python3-grpc-tools (.ci/run); without them this test fails, it does not skip.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { protoPath as healthProto } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTO_DIR, SERVICE_PROTO } from '../../../src/server/grpc/proto.ts';
import { expectedPredictions, fixture } from '../helpers.ts';
import { float32Le, tensor } from '../v2-client.ts';
import { startGrpcApp, type GrpcHarness } from './grpc-client.ts';

const PYTHON = '/usr/bin/python3';
const CLIENT = fileURLToPath(new URL('./python_client.py', import.meta.url));

interface PythonResult {
  live: boolean;
  ready: boolean;
  model_ready: boolean;
  extensions: string[];
  inputs: [string, string, number[]][];
  id: string;
  logits: number[];
  classification: string[];
  classification_shape: number[];
  unknown_model: [string, string];
  index: [string, string, string][];
  health: string;
}

/** Runs python asynchronously: the server it calls lives in this process's event loop. */
async function python(args: string[]): Promise<string> {
  return (await promisify(execFile)(PYTHON, args, { encoding: 'utf8', timeout: 60_000 })).stdout;
}

describe('a python3-grpcio client with stubs generated from our .proto', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'grpc-python-'));
  let h: GrpcHarness;
  beforeAll(async () => {
    h = await startGrpcApp();
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has grpcio and grpc_tools (Debian python3-grpcio, python3-grpc-tools)', async () => {
    await expect(python(['-c', 'import grpc, grpc_tools.protoc'])).resolves.toBe('');
  });

  it('generates stubs with grpc_tools.protoc and gets the answers of the engine and of REST', async () => {
    for (const [include, file] of [
      [PROTO_DIR, SERVICE_PROTO],
      [dirname(healthProto), 'health.proto'],
    ] as const)
      await python([
        '-m',
        'grpc_tools.protoc',
        `-I${include}`,
        `--python_out=${dir}`,
        `--grpc_python_out=${dir}`,
        file,
      ]);
    const input = tensor(1, 9);
    writeFileSync(join(dir, 'tensor.bin'), float32Le(input));
    const image = fixture('landscape-500x375.jpg');
    writeFileSync(join(dir, 'image.jpg'), image);
    const result = JSON.parse(
      await python([CLIENT, dir, h.address, join(dir, 'tensor.bin'), join(dir, 'image.jpg')]),
    ) as PythonResult;

    expect(result).toMatchObject({ live: true, ready: true, model_ready: true, id: 'python-1', health: 'SERVING' });
    expect(result.extensions).toEqual(['binary_tensor_data', 'classification', 'model_repository']);
    expect(result.inputs).toEqual([['input', 'FP32', [-1, 3, 224, 224]]]);
    const { logits } = await h.app.registry.resolve('resnet50').engine!.infer(input);
    result.logits.forEach((value, i) => expect(value).toBeCloseTo(logits[i]!, 5));
    const expected = await expectedPredictions(h.app, image, 3);
    expect(result.classification_shape).toEqual([1, 3]);
    expect(result.classification.map((s) => s.split(':').slice(1).join(':'))).toEqual(
      expected.map((p) => `${p.index}:${p.label}`),
    );
    expect(result.unknown_model).toEqual(['NOT_FOUND', 'MODEL_NOT_FOUND']);
    const rest = (await h.app.inject({ method: 'POST', url: '/v2/repository/index' })).json() as {
      name: string;
      version: string;
      state: string;
    }[];
    expect(result.index).toEqual(rest.map((m) => [m.name, m.version, m.state]));
  });
});
