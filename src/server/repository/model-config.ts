// A model's optional DIR/<model>/config.json: its version policy (Triton's version_policy) and its
// batching and queue settings, named like the server's variables in snake case. Anything it does
// not set comes from the server's configuration. Checked strictly: an unknown key, a wrong type or
// a value out of range is an error naming the key, so a typo cannot silently fall back to a default.
import type { BatchSettings } from '../classifier/spec.ts';
import {
  DEFAULT_VERSION_POLICY,
  VersionPolicyError,
  parseVersionPolicy,
  type VersionPolicy,
} from './version-policy.ts';

export interface ModelConfig {
  readonly versionPolicy: VersionPolicy;
  readonly settings: Partial<BatchSettings>;
}

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

/** Each setting: its key in config.json, the BatchSettings field, and the range MAX_BATCH_SIZE etc. allow. */
const SETTINGS = [
  { key: 'max_batch_size', field: 'maxBatchSize', min: 1, max: 64, integer: true },
  { key: 'max_batch_delay_ms', field: 'maxBatchDelayMs', min: 0, max: 10_000, integer: false },
  { key: 'max_queue', field: 'maxQueue', min: 1, max: 1_000_000, integer: true },
] as const;

const KEYS = ['name', 'version_policy', ...SETTINGS.map((s) => s.key)] as const;

export const DEFAULT_MODEL_CONFIG: ModelConfig = { versionPolicy: DEFAULT_VERSION_POLICY, settings: {} };

function setting(value: unknown, spec: (typeof SETTINGS)[number]): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!spec.integer || Number.isSafeInteger(value)) &&
    value >= spec.min &&
    value <= spec.max;
  if (!ok)
    throw new ModelConfigError(
      `${spec.key} must be ${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** Parses config.json text for the model in folder `name`; throws ModelConfigError with what is wrong. */
export function parseModelConfig(text: string, name: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelConfigError(`config.json is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ModelConfigError('config.json must hold a JSON object');
  const config = json as Record<string, unknown>;
  const unknown = Object.keys(config).find((key) => !(KEYS as readonly string[]).includes(key));
  if (unknown !== undefined)
    throw new ModelConfigError(`config.json has unknown key ${JSON.stringify(unknown)}; allowed: ${KEYS.join(', ')}`);
  if (config['name'] !== undefined && config['name'] !== name)
    throw new ModelConfigError(
      `config.json names the model ${JSON.stringify(config['name'])}, but its folder is ${JSON.stringify(name)}; the folder names the model`,
    );
  let versionPolicy = DEFAULT_VERSION_POLICY;
  try {
    if (config['version_policy'] !== undefined) versionPolicy = parseVersionPolicy(config['version_policy']);
  } catch (err) {
    if (err instanceof VersionPolicyError) throw new ModelConfigError(`config.json: ${err.message}`);
    throw err;
  }
  const settings: Partial<Record<keyof BatchSettings, number>> = {};
  for (const spec of SETTINGS) {
    if (config[spec.key] === undefined) continue;
    try {
      settings[spec.field] = setting(config[spec.key], spec);
    } catch (err) {
      throw new ModelConfigError(`config.json: ${(err as Error).message}`);
    }
  }
  return { versionPolicy, settings };
}
