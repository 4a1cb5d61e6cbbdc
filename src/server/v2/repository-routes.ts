// Triton's model repository extension (server/docs/protocol/extension_model_repository.md), so
// tritonclient's get_model_repository_index, load_model and unload_model work unchanged:
// POST /v2/repository/index ({} or {"ready": true}) lists every model and version with its state
// and reason; POST /v2/repository/models/{m}/load and .../unload (explicit mode, guarded by
// repository-guard.ts) take a model name only. Triton's load may carry "config" and "file:..."
// parameters that would override the model's config or write its files: refused here, because a
// request must never decide what the server reads or writes. Other parameters are ignored.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import { modelNameProblem } from '../classifier/model-name.ts';
import { managementGuard } from './repository-guard.ts';

/** Repository request bodies are small JSON objects. */
const BODY_LIMIT = 64 * 1024;

const errorSchema = { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } as const;
const indexSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'state', 'reason'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      state: { type: 'string', enum: ['READY', 'UNAVAILABLE', 'LOADING', 'UNLOADING'] },
      reason: { type: 'string' },
    },
  },
} as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON object of a repository request; an empty body is {}. */
function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (body.toString('utf8').trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw errors.INVALID_JSON('the repository request is not JSON');
  }
  if (!isObject(json)) throw errors.INVALID_JSON('the repository request must be a JSON object');
  return json;
}

/** {"ready": bool}: true lists only the versions that are READY. */
function readyOnly(request: FastifyRequest): boolean {
  const { ready } = jsonBody(request);
  if (ready !== undefined && typeof ready !== 'boolean')
    throw errors.INVALID_PARAMETER('"ready" must be true or false');
  return ready === true;
}

/** Refuses the load parameters that would name files or a config; other keys are ignored. */
export function checkRepositoryParameters(keys: readonly string[]): void {
  for (const key of keys) {
    const shown = JSON.stringify(key.slice(0, 64));
    if (key === 'config')
      throw errors.PARAMETER_NOT_ALLOWED(shown, "a model's settings come from its config.json in the repository");
    if (key.toLowerCase().startsWith('file:'))
      throw errors.PARAMETER_NOT_ALLOWED(shown, 'model files are copied into the repository, never sent in a request');
  }
}

/** Checks a load or unload body: {"parameters": {...}} with no parameter that names files or a config. */
function checkParameters(request: FastifyRequest): void {
  const { parameters } = jsonBody(request);
  if (parameters === undefined) return;
  if (!isObject(parameters)) throw errors.INVALID_PARAMETER('"parameters" must be an object');
  checkRepositoryParameters(Object.keys(parameters));
}

/** A model name to load or unload, or MODEL_NAME_INVALID: a plain folder name, never a path or a URL. */
export function checkedModelName(model: string): string {
  const problem = modelNameProblem(model);
  if (problem !== undefined) throw errors.MODEL_NAME_INVALID(JSON.stringify(model.slice(0, 64)), problem);
  return model;
}

export async function repositoryRoutes(app: FastifyInstance): Promise<void> {
  const tags = ['v2'];
  const response = { '4xx': errorSchema, '5xx': errorSchema };
  app.post(
    '/index',
    {
      bodyLimit: BODY_LIMIT,
      schema: {
        tags,
        summary: 'Models and versions in the repository, with state and reason',
        response: { 200: indexSchema, ...response },
      },
    },
    async (request) => app.registry.index(readyOnly(request)),
  );
  const guard = managementGuard(app.config);
  const params = { type: 'object', properties: { model: { type: 'string' } } } as const;
  for (const action of ['load', 'unload'] as const) {
    app.post(`/models/:model/${action}`, {
      bodyLimit: BODY_LIMIT,
      onRequest: guard,
      schema: {
        tags,
        summary: `${action === 'load' ? 'Load (or reload)' : 'Unload'} a model of the repository (MODEL_CONTROL_MODE=explicit; restricted)`,
        params,
        response: { 200: { type: 'null', description: 'done (empty body)' }, ...response },
      },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        checkParameters(request);
        const name = checkedModelName((request.params as { model: string }).model);
        const repository = app.repository;
        if (repository === null) throw errors.MODEL_CONTROL_DISABLED('single-model');
        await (action === 'load' ? repository.load(name) : repository.unload(name));
        return reply.code(200).send();
      },
    });
  }
}
