// A model's config.json and its version policy: Triton's three forms, the batching settings, and
// a clear error for everything else.
import { describe, expect, it } from 'vitest';
import { ModelConfigError, parseModelConfig } from '../../../src/server/repository/model-config.ts';
import { parseVersionPolicy, selectVersions } from '../../../src/server/repository/version-policy.ts';

describe('parseVersionPolicy and selectVersions', () => {
  const available = [1, 2, 3, 5];

  it('latest: the N highest version folders (num_versions 1 when not given)', () => {
    expect(selectVersions(parseVersionPolicy({ latest: { num_versions: 2 } }), available)).toEqual({
      selected: [3, 5],
      missing: [],
    });
    expect(selectVersions(parseVersionPolicy({ latest: {} }), available).selected).toEqual([5]);
    expect(selectVersions(parseVersionPolicy({ latest: { num_versions: 9 } }), available).selected).toEqual(available);
  });

  it('all: every version folder', () => {
    expect(selectVersions(parseVersionPolicy({ all: {} }), available).selected).toEqual(available);
  });

  it('specific: the versions listed, and those without a folder as missing', () => {
    expect(selectVersions(parseVersionPolicy({ specific: { versions: [5, 1, 4] } }), available)).toEqual({
      selected: [1, 5],
      missing: [4],
    });
  });

  it.each([
    [{}, /version_policy must be one of/],
    [{ latest: {}, all: {} }, /version_policy must be one of/],
    [{ newest: {} }, /unknown form "newest"/],
    [{ latest: { num_versions: 0 } }, /num_versions must be an integer from 1/],
    [{ latest: { num_versions: 1.5 } }, /num_versions must be an integer/],
    [{ latest: { count: 1 } }, /unknown key "count"/],
    [{ all: { versions: [1] } }, /version_policy.all has unknown key "versions"/],
    [{ specific: { versions: [] } }, /non-empty array of positive integers/],
    [{ specific: { versions: [1, '2'] } }, /non-empty array of positive integers/],
    [{ specific: { versions: [0] } }, /non-empty array of positive integers/],
    [{ specific: { versions: [2, 2] } }, /lists a version twice/],
    [{ specific: [1] }, /version_policy.specific must be an object/],
    ['latest', /version_policy must be one of/],
  ])('refuses %j', (policy, message) => {
    expect(() => parseVersionPolicy(policy)).toThrow(message);
  });
});

describe('parseModelConfig', () => {
  it('reads the policy and the batching settings; what it leaves out comes from the server', () => {
    const config = parseModelConfig(
      JSON.stringify({
        name: 'resnet18',
        version_policy: { all: {} },
        max_batch_size: 4,
        max_batch_delay_ms: 2.5,
        max_queue: 16,
      }),
      'resnet18',
    );
    expect(config).toEqual({
      versionPolicy: { kind: 'all' },
      settings: { maxBatchSize: 4, maxBatchDelayMs: 2.5, maxQueue: 16 },
    });
    expect(parseModelConfig('{}', 'resnet18')).toEqual({
      versionPolicy: { kind: 'latest', numVersions: 1 },
      settings: {},
    });
  });

  it.each([
    ['{"max_batch_size": 4,}', /config\.json is not valid JSON/],
    ['[]', /must hold a JSON object/],
    ['{"max_batch_sise": 4}', /unknown key "max_batch_sise"; allowed: name, version_policy, max_batch_size/],
    ['{"platform": "onnxruntime_onnx"}', /unknown key "platform"/],
    ['{"name": "other"}', /names the model "other", but its folder is "resnet18"/],
    ['{"max_batch_size": 0}', /max_batch_size must be an integer from 1 to 64, got 0/],
    ['{"max_batch_size": 65}', /max_batch_size must be an integer from 1 to 64/],
    ['{"max_batch_size": "8"}', /max_batch_size must be an integer/],
    ['{"max_queue": 1.5}', /max_queue must be an integer/],
    ['{"max_batch_delay_ms": -1}', /max_batch_delay_ms must be a number from 0 to 10000/],
    ['{"version_policy": {"latest": {"num_versions": -1}}}', /config\.json: version_policy\.latest\.num_versions/],
  ])('refuses %s with a message naming the key', (text, message) => {
    expect(() => parseModelConfig(text, 'resnet18')).toThrow(ModelConfigError);
    expect(() => parseModelConfig(text, 'resnet18')).toThrow(message);
  });
});
