// The gRPC side of the load scripts: `npm run load -- --protocol grpc` flags, the serialized
// ModelInferRequest (decoded again with the service's .proto), and the runner against the real
// server on the tiny model: every call counted, images/s and latencies in cannon.ts's shape.
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcRequest, grpcRunner, MODEL_INFER_PATH } from '../../load/lib/grpc-load.ts';
import { parseLoadArgs } from '../../load/load-test/options.ts';
import { PROTO_DIR, SERVICE_PROTO } from '../../src/server/grpc/proto.ts';
import { startGrpcApp, type GrpcHarness } from '../server/grpc/grpc-client.ts';
import { fixture } from '../server/helpers.ts';
import { tensor } from '../server/v2-client.ts';
import { usageMessage } from './usage-error.ts';

const decode = (body: Buffer) => {
  const definitions = loadSync(SERVICE_PROTO, {
    keepCase: true,
    longs: Number,
    oneofs: true,
    includeDirs: [PROTO_DIR],
  });
  const service = definitions['inference.GRPCInferenceService'] as ServiceDefinition;
  return service['ModelInfer']!.requestDeserialize(body) as Record<string, unknown> & {
    inputs: { name: string; datatype: string; shape: number[] }[];
    raw_input_contents: Buffer[];
  };
};

describe('npm run load -- --protocol grpc', () => {
  it('takes grpc with tensors or images, and --grpc-port only for a --url service', () => {
    expect(parseLoadArgs(['--protocol', 'grpc'])).toMatchObject({ protocol: 'grpc', body: 'multipart' });
    expect(parseLoadArgs([])).toMatchObject({ protocol: 'http', grpcPort: undefined });
    const remote = parseLoadArgs(['--protocol', 'grpc', '--url', 'http://127.0.0.1:8080', '--grpc-port', '8081']);
    expect(remote).toMatchObject({ url: 'http://127.0.0.1:8080', grpcPort: 8081 });
  });

  it.each([
    [['--protocol', 'grpc', '--body', 'json'], /--body v2-binary/],
    [['--protocol', 'grpc', '--url', 'http://127.0.0.1:8080'], /--grpc-port N/],
    [['--grpc-port', '8081'], /--grpc-port/],
    [['--protocol', 'smtp'], /protocol/],
    [['--protocol', 'grpc', '--url', 'http://127.0.0.1:8080', '--grpc-port', '0'], /grpc-port/],
  ])('refuses %j', (argv, message) => {
    expect(usageMessage(() => parseLoadArgs(argv))).toMatch(message);
  });
});

describe('grpcRequest', () => {
  const image = fixture('tiny-120x90.png');
  it('serializes FP32 rows as raw_input_contents of a [N,3,224,224] input', () => {
    const rows = tensor(1, 3);
    const request = grpcRequest('tensor', { image, imageName: 'x', imagesPerRequest: 2, modelName: 'm', tensor: rows });
    expect(request).toMatchObject({ path: MODEL_INFER_PATH, images: 2 });
    const message = decode(request.body);
    expect(message).toMatchObject({ model_name: 'm' });
    expect(message.inputs[0]).toMatchObject({ name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224] });
    const raw = message.raw_input_contents[0]!;
    expect(raw.length).toBe(2 * rows.byteLength);
    expect(raw.readFloatLE(4 * rows.length + 8)).toBe(rows[2]);
  });

  it('serializes images as a length-prefixed BYTES tensor', () => {
    const message = decode(grpcRequest('images', { image, imageName: 'x', imagesPerRequest: 3, modelName: 'm' }).body);
    expect(message.inputs[0]).toMatchObject({ name: 'images', datatype: 'BYTES', shape: [3] });
    const raw = message.raw_input_contents[0]!;
    expect(raw.length).toBe(3 * (4 + image.length));
    expect(raw.readUInt32LE(4 + image.length)).toBe(image.length);
  });
});

describe('grpcRunner against the server', { timeout: 60_000 }, () => {
  let h: GrpcHarness;
  beforeAll(async () => {
    h = await startGrpcApp();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('sends an amount of calls over several connections and counts each', async () => {
    const request = grpcRequest('images', {
      image: fixture('tiny-120x90.png'),
      imageName: 'x',
      imagesPerRequest: 2,
      modelName: 'resnet50',
    });
    const run = await grpcRunner(h.address)({
      baseUrl: 'http://unused',
      request,
      connections: 3,
      amount: 12,
      maxSeconds: 30,
      timeoutS: 30,
    });
    expect(run.summary).toMatchObject({ connections: 3, responses: 12, ok: 12, non2xx: 0, errors: 0 });
    expect(run.summary.statusCodes).toEqual({ OK: 12 });
    expect(run.summary.imagesPerSecond).toBeCloseTo((12 * 2) / run.summary.durationS, 6);
    expect(run.latencyByClassMs['OK']!.p50).toBeGreaterThan(0);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/resnet_images_classified_total\{model="resnet50",version="1",api="grpc"\} 24/);
  });

  it('counts refusals by status name: an unknown model is NOT_FOUND', async () => {
    const request = grpcRequest('images', {
      image: fixture('tiny-120x90.png'),
      imageName: 'x',
      imagesPerRequest: 1,
      modelName: 'nope',
    });
    const run = await grpcRunner(h.address)({
      baseUrl: 'http://unused',
      request,
      connections: 1,
      amount: 3,
      maxSeconds: 30,
      timeoutS: 30,
    });
    expect(run.summary).toMatchObject({ responses: 3, ok: 0, non2xx: 3, errors: 0 });
    expect(run.summary.statusCodes).toEqual({ NOT_FOUND: 3 });
  });
});
