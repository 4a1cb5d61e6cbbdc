// The Dockerfiles kept in step with the server (config, port, health route, entry point), the
// Kubernetes manifests (non-root UID, writable paths) and onnxruntime-node's install options.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CONFIG_VARIABLES, loadConfig } from '../../src/server/config.ts';
import { serviceNodeFlags } from '../../load/lib/server.ts';
import { ROOT, findManifest, loadManifests } from './load-manifests.ts';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Instructions of the last stage (the image that ships); continuation lines joined, comments dropped. */
function finalStage(dockerfile: string): Instruction[] {
  const text = readFileSync(join(ROOT, dockerfile), 'utf8').replace(/\\\n/g, ' ');
  const all = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
  const lastFrom = all.findLastIndex((i) => i.op === 'FROM');
  return all.slice(lastFrom);
}

/** ENV K=V pairs of a stage (values unquoted; values with spaces are not used here). */
function envOf(stage: readonly Instruction[]): Record<string, string> {
  return Object.fromEntries(
    stage
      .filter((i) => i.op === 'ENV')
      .flatMap((i) => i.args.split(/\s+/).map((kv) => kv.split('=') as [string, string])),
  );
}

function one(stage: readonly Instruction[], op: string): string {
  const found = stage.filter((i) => i.op === op);
  expect(found, op).toHaveLength(1);
  return found[0]!.args;
}

const deployment = new Deployment(findManifest(loadManifests(), 'Deployment') as never);
const podSpec = deployment.spec!.template.spec!;
const serverEnv = new Set(Object.values(CONFIG_VARIABLES).map((v) => v.env));

describe.each(['Dockerfile', 'Dockerfile.cuda'])('%s', (dockerfile) => {
  const stage = finalStage(dockerfile);
  const env = envOf(stage);
  const serverOnly = Object.fromEntries(Object.entries(env).filter(([k]) => serverEnv.has(k)));
  const config = loadConfig(serverOnly, []);

  it('sets valid server config: listen on 0.0.0.0, the model and cache where the manifests mount them', () => {
    expect(config.host).toBe('0.0.0.0');
    expect(config.modelPath).toMatch(/^\/app\/models\/[^/]+\.onnx$/);
    const cacheMount = podSpec.containers[0]!.volumeMounts!.find((m) => m.name === 'model-cache');
    expect(config.modelCacheDir).toBe(cacheMount?.mountPath);
  });

  it('exposes the HTTP and gRPC ports and health-checks the readiness route with node, not curl', () => {
    expect(one(stage, 'EXPOSE')).toBe(`${config.port} ${config.grpcPort}`);
    const healthcheck = one(stage, 'HEALTHCHECK');
    expect(healthcheck).toMatch(/CMD \["node", "-e", "fetch\(.*\/v2\/health\/ready/);
    expect(healthcheck).toContain('process.env.PORT||' + String(config.port));
  });

  it('runs node directly as PID 1 (exec form, no entrypoint script) as the UID the manifests expect', () => {
    expect(one(stage, 'ENTRYPOINT')).toBe('[]');
    const cmd = JSON.parse(one(stage, 'CMD')) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-1)).toBe('dist/server/main.js');
    // The V8 flags the benchmarks measure, as npm start passes them.
    expect(cmd.slice(1, -1)).toEqual(['--enable-source-maps', ...serviceNodeFlags(ROOT)]);
    expect(serviceNodeFlags(ROOT)).toEqual(
      expect.arrayContaining(['--initial-old-space-size=128', '--no-memory-reducer']),
    );
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } })
      .scripts.start;
    expect(start).toContain(`node ${cmd.slice(1).join(' ')}`);
    const user = one(stage, 'USER');
    expect(['node', '1000:1000']).toContain(user);
    expect(podSpec.securityContext?.runAsUser).toBe(1000);
  });

  it('installs libturbojpeg and requires it (JPEG_DECODER=libjpeg-turbo: no silent fall back to libvips)', () => {
    expect(config.jpegDecoder).toBe('libjpeg-turbo');
    const runs = stage.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /apt-get install -y --no-install-recommends libturbojpeg0?\b/.test(r))).toBe(true);
  });

  it('copies only paths that exist and that .dockerignore lets into the build context', () => {
    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/$/, ''));
    const text = readFileSync(join(ROOT, dockerfile), 'utf8');
    const sources = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(
        allowed.some((a) => a === source || a.startsWith(`${source}/`)),
        source,
      ).toBe(true);
    }
  });
});

describe('Dockerfile.cuda', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile.cuda'), 'utf8');

  it("runs onnxruntime-node's install script forced, and checks for files that script installs on linux/x64", () => {
    const require = createRequire(join(ROOT, 'package.json'));
    const pkg = require('./package.json') as { scripts: Record<string, string> };
    const script = /^ONNXRUNTIME_NODE_INSTALL=(\S+) node (\S+)$/.exec(pkg.scripts['install:cuda'] ?? '');
    expect(script, 'package.json scripts.install:cuda').not.toBeNull();
    expect(text).toMatch(/^ && npm run install:cuda \\$/m);
    // onnxruntime-node's own flag parser reads the value: true forces the install.
    const utils = require('onnxruntime-node/script/install-utils.js') as { parseInstallFlag(): unknown };
    vi.stubEnv('ONNXRUNTIME_NODE_INSTALL', script![1]!);
    try {
      expect(utils.parseInstallFlag()).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(require.resolve('onnxruntime-node/script/install.js')).toBe(join(ROOT, script![2]!));
    const metadata = require('onnxruntime-node/script/install-metadata.js') as {
      requirements: Record<string, string[]>;
      manifests: Record<string, Record<string, unknown>>;
    };
    const installed = (metadata.requirements['linux/x64'] ?? []).flatMap((name) =>
      Object.keys(metadata.manifests[`linux/x64:${name}`] ?? {}).map((file) => file.replace(/^\.\//, 'linux/x64/')),
    );
    const checked = [...text.matchAll(/test -f (\S+)/g)].map((m) => m[1]!);
    expect(checked).toContain('linux/x64/libonnxruntime_providers_cuda.so');
    for (const file of checked) expect(installed, file).toContain(file);
  });

  it('selects the CUDA execution provider and an NVIDIA CUDA 12 + cuDNN runtime base', () => {
    expect(loadConfig(envOf(finalStage('Dockerfile.cuda')), []).executionProvider).toBe('cuda');
    expect(text).toMatch(/^ARG CUDA_IMAGE=nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.04$/m);
  });
});
