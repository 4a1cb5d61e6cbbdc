// The model repository's management API under hostile input (app.inject): who may call load and
// unload (mode, loopback, Origin, bearer-token tricks), names that are paths, URLs, encodings or
// too long, bodies that are not what Triton sends, and wrong methods. Every refusal has its code;
// refusals of the caller come before the body is read; and a watch on every fs call sees none
// outside the repository while hostile names are served.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { makeRepository, removeRepository, writeModel } from '../server/repository/fixture-repository.ts';
import { HARDENING_ENV, codeOf, expectError, expectStillServing, portOf, rawExchange, startApp } from './helpers.ts';
import { watchFilesystemAndNetwork } from './watch.ts';

const TOKEN = 'hardening-token-0123456789abcdef';

let root: string;
let open: FastifyInstance;
let guarded: FastifyInstance;
beforeAll(async () => {
  // A model folder beside the repository: nothing a request names may reach it.
  root = join(makeRepository(), 'repository');
  mkdirSync(root);
  writeModel(root, 'resnet18', { versions: { '1': 'tiny18' } });
  writeModel(dirname(root), 'outside', { versions: { '1': 'tiny18' } });
  symlinkSync(join(dirname(root), 'outside'), join(root, 'linked'));
  writeFileSync(join(root, 'README.md'), 'not a model');
  const app = async (env: Record<string, string>) => {
    const { MODEL_NAME: _single, ...hardening } = HARDENING_ENV;
    const built = await buildApp(
      loadConfig({
        ...hardening,
        MODEL_REPOSITORY: root,
        MODEL_CONTROL_MODE: 'explicit',
        DEFAULT_MODEL: 'resnet18',
        ...env,
      }),
    );
    await built.registry.whenStarted();
    return built;
  };
  open = await app({});
  guarded = await app({ REPOSITORY_API_TOKEN: TOKEN });
});
afterAll(async () => {
  await Promise.all([open?.close(), guarded?.close()]);
  removeRepository(root === undefined ? undefined : dirname(root));
});

interface Call {
  readonly url?: string;
  readonly method?: 'POST' | 'GET' | 'PUT' | 'DELETE';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly remoteAddress?: string;
}

function call(app: FastifyInstance, c: Call) {
  return app.inject({
    method: c.method ?? 'POST',
    url: c.url ?? '/v2/repository/models/resnet18/load',
    payload: c.body ?? '{}',
    headers: c.headers ?? {},
    ...(c.remoteAddress === undefined ? {} : { remoteAddress: c.remoteAddress }),
  });
}

describe('who may load and unload, without a token: loopback clients only', { timeout: 20_000 }, () => {
  it.each([
    ['a LAN client', '10.0.0.5'],
    ['a public IPv6 client', '2001:db8::1'],
    ['an IPv4-mapped non-loopback client', '::ffff:192.168.1.9'],
    ['a client whose address merely starts with 127', '1270.0.0.1'],
  ])('refuses %s with 403 LOOPBACK_ONLY, for load and unload', async (_name, remoteAddress) => {
    for (const action of ['load', 'unload'])
      expectError(
        await call(open, { url: `/v2/repository/models/resnet18/${action}`, remoteAddress }),
        403,
        'LOOPBACK_ONLY',
        'v2',
      );
  });

  it('does not trust X-Forwarded-For or Forwarded', async () => {
    const headers = { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1', 'x-real-ip': '127.0.0.1' };
    expectError(await call(open, { headers, remoteAddress: '10.0.0.5' }), 403, 'LOOPBACK_ONLY', 'v2');
  });

  it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])(
    'serves the loopback client %s',
    async (remoteAddress) => {
      expect((await call(open, { remoteAddress })).statusCode).toBe(200);
    },
  );

  it.each(['http://127.0.0.1:8080', 'null', 'https://evil.example'])(
    'refuses a browser request (Origin: %s) with 403 ORIGIN_REFUSED, even from loopback',
    async (origin) => {
      expectError(await call(open, { headers: { origin } }), 403, 'ORIGIN_REFUSED', 'v2');
      expectError(
        await call(guarded, { headers: { origin, authorization: `Bearer ${TOKEN}` } }),
        403,
        'ORIGIN_REFUSED',
        'v2',
      );
    },
  );

  it('refuses before reading the body: a caller refused with a malformed body still gets 403', async () => {
    expectError(await call(open, { body: '{"parameters": ', remoteAddress: '10.0.0.5' }), 403, 'LOOPBACK_ONLY', 'v2');
  });
});

describe('who may load and unload, with REPOSITORY_API_TOKEN', { timeout: 20_000 }, () => {
  const bearer = (value: string) => ({ authorization: value });
  it.each([
    ['no Authorization header', {}],
    ['an empty bearer', bearer('Bearer ')],
    ['the scheme alone', bearer('Bearer')],
    ['a wrong token', bearer('Bearer hardening-token-0123456789abcdeX')],
    ['a prefix of the token', bearer(`Bearer ${TOKEN.slice(0, -1)}`)],
    ['the token and more', bearer(`Bearer ${TOKEN}x`)],
    ['the token and a second word', bearer(`Bearer ${TOKEN} ${TOKEN}`)],
    ['two tokens, comma-separated', bearer(`Bearer ${TOKEN}, Bearer ${TOKEN}`)],
    ['the token as Basic credentials', bearer(`Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`)],
    ['the bare token', bearer(TOKEN)],
    ['the token in another header', { 'x-api-key': TOKEN, 'x-repository-api-token': TOKEN }],
    ['the token with its case changed', bearer(`Bearer ${TOKEN.toUpperCase()}`)],
  ])('refuses %s with 401 UNAUTHORIZED and a Bearer challenge, from loopback too', async (_name, headers) => {
    const response = await call(guarded, { headers });
    expectError(response, 401, 'UNAUTHORIZED', 'v2');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it('refuses the token in the query string', async () => {
    expectError(
      await call(guarded, { url: `/v2/repository/models/resnet18/load?token=${TOKEN}` }),
      401,
      'UNAUTHORIZED',
      'v2',
    );
  });

  it('serves the right token from any address (the token replaces the loopback rule), scheme in any case', async () => {
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN}`])
      expect((await call(guarded, { headers: { authorization }, remoteAddress: '10.0.0.5' })).statusCode).toBe(200);
  });
});

describe('load and unload where they do not exist', { timeout: 20_000 }, () => {
  it('answers 403 MODEL_CONTROL_DISABLED without a repository (the single model) and in none mode', async () => {
    const single = await startApp();
    const { MODEL_NAME: _single, ...hardening } = HARDENING_ENV;
    const none = await buildApp(loadConfig({ ...hardening, MODEL_REPOSITORY: root }));
    try {
      for (const app of [single, none])
        for (const action of ['load', 'unload'])
          expectError(
            await call(app, {
              url: `/v2/repository/models/resnet18/${action}`,
              headers: { authorization: `Bearer ${TOKEN}` },
            }),
            403,
            'MODEL_CONTROL_DISABLED',
            'v2',
          );
    } finally {
      await Promise.all([single.close(), none.close()]);
    }
  });
});

// Authorized calls with hostile names: refused for the name, never for the caller.
const hostileNames: [string, number, string][] = [
  ['..%2F..%2Fetc%2Fpasswd', 400, 'MODEL_NAME_INVALID'],
  ['..%2Foutside', 400, 'MODEL_NAME_INVALID'],
  ['..%5Coutside', 400, 'MODEL_NAME_INVALID'],
  ['%2Fetc%2Fpasswd', 400, 'MODEL_NAME_INVALID'],
  ['resnet18%2F1', 400, 'MODEL_NAME_INVALID'],
  ['file%3A%2F%2F%2Fetc%2Fpasswd', 400, 'MODEL_NAME_INVALID'],
  ['http%3A%2F%2F127.0.0.1%3A1%2Fm.onnx', 400, 'MODEL_NAME_INVALID'],
  ['.hidden', 400, 'MODEL_NAME_INVALID'],
  ['resnet18%00', 400, 'MODEL_NAME_INVALID'],
  ['resnet18%20', 400, 'MODEL_NAME_INVALID'],
  ['resnet18%0A', 400, 'MODEL_NAME_INVALID'],
  ['%C3%A9t%C3%A9', 400, 'MODEL_NAME_INVALID'],
  ['a'.repeat(65), 400, 'MODEL_NAME_INVALID'],
  ['a'.repeat(150), 400, 'INVALID_PARAMETER'],
  ['%E0%A4%A', 400, 'INVALID_PARAMETER'],
  ['RESNET18', 404, 'MODEL_NOT_FOUND'],
  ['outside', 404, 'MODEL_NOT_FOUND'],
  ['linked', 404, 'MODEL_NOT_FOUND'],
  ['README.md', 404, 'MODEL_NOT_FOUND'],
  ['repository', 404, 'MODEL_NOT_FOUND'],
];

describe('names: only a folder of the repository, never a path or URL', { timeout: 30_000 }, () => {
  it.each(hostileNames)('load and unload of "%s": %i %s', async (name, status, code) => {
    for (const action of ['load', 'unload'])
      expectError(await call(open, { url: `/v2/repository/models/${name}/${action}` }), status, code, 'v2');
  });

  it('makes no fs call outside the repository, and none at all for a refused caller or name', async () => {
    await call(open, { url: '/v2/repository/models/nothing/load' }); // loads the modules a call needs first
    const watch = watchFilesystemAndNetwork();
    const statuses: number[] = [];
    try {
      for (const [name] of hostileNames)
        for (const action of ['load', 'unload'])
          statuses.push((await call(open, { url: `/v2/repository/models/${name}/${action}` })).statusCode);
    } finally {
      watch.stop();
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    const paths = watch.calls
      .flatMap((c) => /\((.*)\)$/.exec(c)?.[1]?.split(', ') ?? [])
      .filter((a) => a.startsWith('/'));
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.filter((p) => p !== root && !p.startsWith(`${root}/`))).toEqual([]);
    // Only listings of the repository itself: a name is checked against them, never joined before.
    expect(new Set(watch.calls.map((c) => c.replace(/\(.*/, '')))).toEqual(new Set(['fs.promises.readdir']));
    expect(watch.calls.some((c) => c.includes('outside') || c.includes('etc'))).toBe(false);

    const refused = watchFilesystemAndNetwork();
    try {
      await call(open, { remoteAddress: '10.0.0.5' });
      await call(guarded, {});
      await call(open, { url: '/v2/repository/models/..%2Foutside/load' });
    } finally {
      refused.stop();
    }
    expect(refused.calls).toEqual([]);
  });
});

describe('path tricks sent byte for byte (inject would resolve them)', { timeout: 20_000 }, () => {
  let port: number;
  beforeAll(async () => {
    await open.listen({ port: 0, host: '127.0.0.1' });
    port = portOf(open);
  });
  const post = (path: string) =>
    rawExchange(port, [`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`]);

  it.each([
    '/v2/repository/models/%2e%2e/load',
    '/v2/repository/models/.%2e/unload',
    '/v2/repository/models/%2e%2e%2foutside/load',
    '/v2/repository/models/%2E%2E%5Coutside/load',
  ])('answers POST %s with 400 MODEL_NAME_INVALID', async (path) => {
    const response = await post(path);
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('MODEL_NAME_INVALID');
  });

  it.each(['/v2/repository/models/../outside/load', '/v2/repository/models/resnet18/../../outside/load'])(
    'answers POST %s with 404 NOT_FOUND',
    async (path) => {
      const response = await post(path);
      expect(response.status).toBe(404);
      expect(codeOf(response)).toBe('NOT_FOUND');
    },
  );
});

describe('bodies and methods', { timeout: 20_000 }, () => {
  it.each([
    ['not JSON', '{"parameters": ', 400, 'INVALID_JSON'],
    ['a JSON array', '[]', 400, 'INVALID_JSON'],
    ['a JSON string', '"load"', 400, 'INVALID_JSON'],
    ['parameters that are not an object', '{"parameters": "config"}', 400, 'INVALID_PARAMETER'],
    ['parameters as an array', '{"parameters": ["config"]}', 400, 'INVALID_PARAMETER'],
    ['a config override', '{"parameters": {"config": "{}"}}', 400, 'PARAMETER_NOT_ALLOWED'],
    ['a file override', '{"parameters": {"file:1/model.onnx": "AAAA"}}', 400, 'PARAMETER_NOT_ALLOWED'],
    ['a file override in capitals', '{"parameters": {"FILE:1/model.onnx": "AAAA"}}', 400, 'PARAMETER_NOT_ALLOWED'],
    ['a body over 64 KiB', JSON.stringify({ parameters: { pad: 'x'.repeat(70_000) } }), 413, 'BODY_TOO_LARGE'],
  ])('refuses %s: %i %s', async (_name, body, status, code) => {
    for (const action of ['load', 'unload'])
      expectError(await call(open, { url: `/v2/repository/models/resnet18/${action}`, body }), status, code, 'v2');
  });

  it('reads a __proto__ key as a plain key (JSON.parse): ignored, nothing polluted', async () => {
    const response = await call(open, { body: '{"__proto__": {"parameters": {"config": "x"}, "polluted": true}}' });
    expect(response.statusCode).toBe(200);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each([
    ['{"ready": "yes"}', 400, 'INVALID_PARAMETER'],
    ['{"ready": ', 400, 'INVALID_JSON'],
    ['[true]', 400, 'INVALID_JSON'],
  ])('refuses the index body %s: %i %s', async (body, status, code) => {
    expectError(await call(open, { url: '/v2/repository/index', body }), status, code, 'v2');
  });

  it.each([
    ['GET', '/v2/repository/index'],
    ['GET', '/v2/repository/models/resnet18/load'],
    ['PUT', '/v2/repository/models/resnet18/load'],
  ] as const)('answers %s %s with 405 METHOD_NOT_ALLOWED (Allow: POST)', async (method, url) => {
    const response = await call(open, { method, url });
    expectError(response, 405, 'METHOD_NOT_ALLOWED', 'v2');
    expect(response.headers['allow']).toBe('POST');
  });

  it.each([
    ['DELETE', '/v2/repository/models/resnet18'],
    ['POST', '/v2/repository/models/resnet18'],
    ['POST', '/v2/repository/models/resnet18/reload'],
    ['POST', '/v2/repository/models/resnet18/versions/1/load'],
  ] as const)('answers %s %s with 404 NOT_FOUND', async (method, url) => {
    expectError(await call(open, { method, url }), 404, 'NOT_FOUND', 'v2');
  });

  it('still serves a good request with the right result, on both apps', async () => {
    await expectStillServing(open);
    await expectStillServing(guarded);
  });
});
