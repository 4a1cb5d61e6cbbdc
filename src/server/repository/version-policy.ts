// Which versions of a model are served, in Triton's three forms (model_config.proto,
// ModelVersionPolicy): {"latest": {"num_versions": n}} the n highest version folders (the default,
// n = 1), {"all": {}} every version folder, {"specific": {"versions": [1, 3]}} exactly those.
import { MAX_VERSION } from '../classifier/model-name.ts';

export type VersionPolicy =
  | { readonly kind: 'latest'; readonly numVersions: number }
  | { readonly kind: 'all' }
  | { readonly kind: 'specific'; readonly versions: readonly number[] };

export const DEFAULT_VERSION_POLICY: VersionPolicy = { kind: 'latest', numVersions: 1 };

export class VersionPolicyError extends Error {
  override name = 'VersionPolicyError';
}

const FORMS = 'one of {"latest": {"num_versions": N}}, {"all": {}}, {"specific": {"versions": [N, ...]}}';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const extra = Object.keys(value).filter((key) => !allowed.includes(key));
  if (extra.length > 0)
    throw new VersionPolicyError(
      `${where} has unknown key ${JSON.stringify(extra[0])}; allowed: ${allowed.join(', ') || 'none'}`,
    );
}

const isVersion = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_VERSION;

/** Parses the `version_policy` value of a config.json; throws a VersionPolicyError saying what is wrong. */
export function parseVersionPolicy(value: unknown): VersionPolicy {
  if (!isObject(value) || Object.keys(value).length !== 1)
    throw new VersionPolicyError(`version_policy must be ${FORMS}`);
  const [form, body] = Object.entries(value)[0] as [string, unknown];
  if (!isObject(body)) throw new VersionPolicyError(`version_policy.${form} must be an object`);
  if (form === 'latest') {
    onlyKeys(body, ['num_versions'], 'version_policy.latest');
    const n = body['num_versions'] ?? 1;
    if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > 1000)
      throw new VersionPolicyError('version_policy.latest.num_versions must be an integer from 1 to 1000');
    return { kind: 'latest', numVersions: n as number };
  }
  if (form === 'all') {
    onlyKeys(body, [], 'version_policy.all');
    return { kind: 'all' };
  }
  if (form === 'specific') {
    onlyKeys(body, ['versions'], 'version_policy.specific');
    const versions = body['versions'];
    if (!Array.isArray(versions) || versions.length === 0 || !versions.every(isVersion))
      throw new VersionPolicyError('version_policy.specific.versions must be a non-empty array of positive integers');
    if (new Set(versions).size !== versions.length)
      throw new VersionPolicyError('version_policy.specific.versions lists a version twice');
    return { kind: 'specific', versions: [...versions].sort((a, b) => a - b) };
  }
  throw new VersionPolicyError(`version_policy has unknown form ${JSON.stringify(form)}; expected ${FORMS}`);
}

/** The versions to serve out of the version folders found, ascending; `missing`: named by the policy, not found. */
export function selectVersions(
  policy: VersionPolicy,
  available: readonly number[],
): { selected: number[]; missing: number[] } {
  const sorted = [...new Set(available)].sort((a, b) => a - b);
  if (policy.kind === 'all') return { selected: sorted, missing: [] };
  if (policy.kind === 'latest') return { selected: sorted.slice(-policy.numVersions), missing: [] };
  return {
    selected: policy.versions.filter((v) => sorted.includes(v)),
    missing: policy.versions.filter((v) => !sorted.includes(v)),
  };
}
