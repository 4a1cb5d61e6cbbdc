// Every RPC of inference.GRPCInferenceService through a real grpc-js client against the real
// server on the tiny model. Inference answers are compared with the REST V2 route's for the
// same input and with the engine asked directly (preprocess -> engine), never with constants.
import type { Client } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topK } from '../../../src/model/runtime/postprocess.ts';
import { expectedPredictions, fixture } from '../helpers.ts';
import {
  bytesElements,
  float32Le,
  floatsOf,
  inferRequest,
  parseInferResponse,
  stringsOf,
  tensor,
} from '../v2-client.ts';
import { call, errorCode, startGrpcApp, type GrpcHarness } from './grpc-client.ts';

const SHAPE = [1, 3, 224, 224];

interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}

/** Raw output contents, read as the REST client reads binary outputs. */
const floats = (bytes: Buffer): Float32Array => floatsOf({ name: '', datatype: 'FP32', shape: [], binary: bytes });
const strings = (bytes: Buffer): string[] => stringsOf({ name: '', datatype: 'BYTES', shape: [], binary: bytes });

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 5));
}

async function infer(client: Client, request: object): Promise<InferResponse> {
  const outcome = await call<InferResponse>(client, 'ModelInfer', { model_name: 'resnet50', ...request });
  if (!outcome.ok) throw new Error(`ModelInfer failed: ${outcome.code} ${outcome.details}`);
  return outcome.response;
}

describe('gRPC: every RPC against the tiny model', { timeout: 60_000 }, () => {
  let h: GrpcHarness;
  beforeAll(async () => {
    h = await startGrpcApp();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('ServerLive, ServerReady and ServerMetadata answer as the REST routes do', async () => {
    expect(await call(h.client, 'ServerLive', {})).toEqual({ ok: true, response: { live: true } });
    expect(await call(h.client, 'ServerReady', {})).toEqual({ ok: true, response: { ready: true } });
    const rest = (await h.app.inject({ method: 'GET', url: '/v2' })).json();
    expect(await call(h.client, 'ServerMetadata', {})).toEqual({ ok: true, response: rest });
  });

  it('ModelReady is true for the model, with and without its version, and NOT_FOUND for unknown ones', async () => {
    expect(await call(h.client, 'ModelReady', { name: 'resnet50' })).toEqual({ ok: true, response: { ready: true } });
    expect(await call(h.client, 'ModelReady', { name: 'resnet50', version: '1' })).toMatchObject({
      response: { ready: true },
    });
    for (const request of [{ name: 'nope' }, { name: 'resnet50', version: '2' }, { name: 'resnet50', version: 'x' }]) {
      const outcome = await call(h.client, 'ModelReady', request);
      expect(outcome).toMatchObject({ ok: false, code: status.NOT_FOUND });
      expect(errorCode(outcome)).toBe('MODEL_NOT_FOUND');
    }
  });

  it("ModelMetadata is the REST route's metadata, tensors and all", async () => {
    const rest = (await h.app.inject({ method: 'GET', url: '/v2/models/resnet50' })).json() as Record<string, unknown>;
    const { precision: _precision, ...fields } = rest;
    const outcome = await call(h.client, 'ModelMetadata', { name: 'resnet50', version: '1' });
    expect(outcome).toEqual({ ok: true, response: fields });
    expect(fields['inputs']).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }]);
  });

  it('ModelInfer on raw FP32 contents gives the logits and probabilities of REST binary tensors and of the engine', async () => {
    const input = tensor(2, 7);
    const response = await infer(h.client, {
      id: 'request-7',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224] }],
      raw_input_contents: [Buffer.from(float32Le(input))],
    });
    expect(response).toMatchObject({ model_name: 'resnet50', model_version: '1', id: 'request-7' });
    expect(response.outputs).toEqual([
      { name: 'logits', datatype: 'FP32', shape: [2, 10], parameters: {}, contents: null },
      { name: 'probabilities', datatype: 'FP32', shape: [2, 10], parameters: {}, contents: null },
    ]);
    const { payload, headers } = inferRequest({ parameters: { binary_data_output: true } }, [
      { json: { name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224] }, bytes: float32Le(input) },
    ]);
    const rest = parseInferResponse(
      await h.app.inject({ method: 'POST', url: '/v2/models/resnet50/infer', payload, headers }),
    );
    expectClose(floats(response.raw_output_contents[0]!), floatsOf(rest.outputs[0]!));
    expectClose(floats(response.raw_output_contents[1]!), floatsOf(rest.outputs[1]!));
    const engine = h.app.registry.resolve('resnet50').engine!;
    const direct = await engine.infer(input.subarray(3 * 224 * 224));
    expectClose(floats(response.raw_output_contents[0]!).subarray(10), direct.logits);
  });

  it('ModelInfer on typed fp32_contents answers as on raw contents', async () => {
    const input = tensor(1, 11);
    const typed = await infer(h.client, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: SHAPE, contents: { fp32_contents: Array.from(input) } }],
      outputs: [{ name: 'logits' }],
    });
    const raw = await infer(h.client, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: SHAPE }],
      raw_input_contents: [Buffer.from(float32Le(input))],
      outputs: [{ name: 'logits' }],
    });
    expect(typed.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(floats(typed.raw_output_contents[0]!)).toEqual(floats(raw.raw_output_contents[0]!));
  });

  it('ModelInfer on a BYTES tensor of encoded images (raw and bytes_contents) gives what REST and the engine give', async () => {
    const images = [fixture('tiny-120x90.png'), fixture('landscape-500x375.jpg')];
    const classification = { name: 'probabilities', parameters: { classification: { int64_param: 3 } } };
    const raw = await infer(h.client, {
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [2] }],
      raw_input_contents: [Buffer.from(bytesElements(images))],
      outputs: [classification, { name: 'logits' }],
    });
    const typed = await infer(h.client, {
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [2, 1], contents: { bytes_contents: images } }],
      outputs: [classification, { name: 'logits' }],
    });
    expect(raw.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape }))).toEqual([
      { name: 'probabilities', datatype: 'BYTES', shape: [2, 3] },
      { name: 'logits', datatype: 'FP32', shape: [2, 10] },
    ]);
    expect(strings(typed.raw_output_contents[0]!)).toEqual(strings(raw.raw_output_contents[0]!));
    const { payload, headers } = inferRequest(
      {
        outputs: [
          { name: 'probabilities', parameters: { classification: 3 } },
          { name: 'logits', parameters: { binary_data: true } },
        ],
      },
      [{ json: { name: 'images', datatype: 'BYTES', shape: [2] }, bytes: bytesElements(images) }],
    );
    const rest = parseInferResponse(
      await h.app.inject({ method: 'POST', url: '/v2/models/resnet50/infer', payload, headers }),
    );
    expect(strings(raw.raw_output_contents[0]!)).toEqual(stringsOf(rest.outputs[0]!));
    expectClose(floats(raw.raw_output_contents[1]!), floatsOf(rest.outputs[1]!));
    for (const [i, image] of images.entries()) {
      const expected = await expectedPredictions(h.app, image, 3);
      const got = strings(raw.raw_output_contents[0]!)
        .slice(i * 3, i * 3 + 3)
        .map((s) => s.split(':'));
      expect(got.map(([, index]) => Number(index))).toEqual(expected.map((p) => p.index));
      expect(got.map(([, , label]) => label)).toEqual(expected.map((p) => p.label));
      got.forEach(([score], j) => expect(Number(score)).toBeCloseTo(expected[j]!.score, 5));
    }
  });

  it('classification works on logits too, as Triton: the top-k logit values with their classes', async () => {
    const input = tensor(1, 3);
    const response = await infer(h.client, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: SHAPE }],
      raw_input_contents: [Buffer.from(float32Le(input))],
      outputs: [{ name: 'logits', parameters: { classification: { int64_param: 2 } } }],
    });
    const { logits } = await h.app.registry.resolve('resnet50').engine!.infer(input);
    const labels = h.app.registry.resolve('resnet50').labels;
    const expected = topK(logits, 2, labels).map((p) => `${p.index}:${p.label}`);
    expect(strings(response.raw_output_contents[0]!).map((s) => s.split(':').slice(1).join(':'))).toEqual(expected);
  });

  it('answers a request without a model name with the only model, and without an id with an empty one', async () => {
    const outcome = await call<InferResponse>(h.client, 'ModelInfer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: SHAPE }],
      raw_input_contents: [Buffer.from(float32Le(tensor(1, 1)))],
    });
    expect(outcome).toMatchObject({ ok: true, response: { model_name: 'resnet50', id: '' } });
  });

  it('RepositoryIndex lists the model, as POST /v2/repository/index does', async () => {
    const rest = (await h.app.inject({ method: 'POST', url: '/v2/repository/index' })).json();
    expect(await call(h.client, 'RepositoryIndex', {})).toEqual({ ok: true, response: { models: rest } });
    expect(await call(h.client, 'RepositoryIndex', { ready: true })).toEqual({ ok: true, response: { models: rest } });
  });

  it('RepositoryModelLoad and Unload answer PERMISSION_DENIED MODEL_CONTROL_DISABLED without a repository in explicit mode', async () => {
    for (const method of ['RepositoryModelLoad', 'RepositoryModelUnload']) {
      const outcome = await call(h.client, method, { model_name: 'resnet50' });
      expect(outcome).toMatchObject({ ok: false, code: status.PERMISSION_DENIED });
      expect(errorCode(outcome)).toBe('MODEL_CONTROL_DISABLED');
      expect(outcome.ok || outcome.details).toMatch(/^MODEL_CONTROL_DISABLED: .*MODEL_CONTROL_MODE=explicit/);
    }
  });

  it('counts images classified with api="grpc" and every call in grpc_server_handled_total', async () => {
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/resnet_images_classified_total\{model="resnet50",version="1",api="grpc"\} [1-9]/);
    expect(metrics).toMatch(
      /grpc_server_handled_total\{grpc_service="inference.GRPCInferenceService",grpc_method="ModelInfer",grpc_code="OK"\} [1-9]/,
    );
    expect(metrics).toMatch(/grpc_method="ModelReady",grpc_code="NOT_FOUND"\} 3/);
  });
});
