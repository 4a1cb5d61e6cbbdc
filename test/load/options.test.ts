import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../load/bench/service/options.ts';
import { UsageError, isLoopbackUrl, parseBaseUrl } from '../../load/lib/cli.ts';
import { DEFAULT_MODEL_PATH } from '../../load/lib/server.ts';
import { parseEnvPairs, parseLoadArgs, parseVary, settingsOf } from '../../load/load-test/options.ts';
import { usageMessage } from './usage-error.ts';

describe('parseLoadArgs', () => {
  it('gives bounded defaults: 8 connections, 10 s, multipart, one image, the default model, no URL', () => {
    const args = parseLoadArgs([]);
    expect(args).toMatchObject({
      url: undefined,
      connections: [8],
      durationS: 10,
      amount: undefined,
      warmupS: 2,
      body: 'multipart',
      imagesPerRequest: 1,
      env: {},
      vary: undefined,
      modelPath: DEFAULT_MODEL_PATH,
      modelName: 'resnet50',
      outDir: 'load/reports',
    });
  });

  it('reads a connection list, an amount, a body kind and repeated --env', () => {
    const args = parseLoadArgs([
      '-c',
      '1,8,32',
      '--amount',
      '500',
      '--body',
      'v2-binary',
      '--env',
      'MAX_BATCH_SIZE=4',
      '-e',
      'MODEL_NAME=rn',
    ]);
    expect(args.connections).toEqual([1, 8, 32]);
    expect(args.amount).toBe(500);
    expect(args.durationS).toBeUndefined();
    expect(args.body).toBe('v2-binary');
    expect(args.env).toEqual({ MAX_BATCH_SIZE: '4', MODEL_NAME: 'rn' });
    expect(args.modelName).toBe('rn');
  });

  it('accepts loopback URLs and strips the trailing slash', () => {
    expect(parseLoadArgs(['--url', 'http://127.0.0.1:8080/']).url).toBe('http://127.0.0.1:8080');
    expect(parseLoadArgs(['--url', 'http://localhost:3000']).url).toBe('http://localhost:3000');
    expect(parseLoadArgs(['--url', 'http://[::1]:8080']).url).toBe('http://[::1]:8080');
    expect(parseLoadArgs(['--url', 'http://127.1.2.3:9']).url).toBe('http://127.1.2.3:9');
  });

  it('refuses every non-loopback URL with a message that says only loopback is allowed', () => {
    for (const url of [
      'http://10.0.0.5:8080',
      'http://example.com',
      'http://0.0.0.0:8080',
      'http://[::2]:80',
      'http://127.0.0.1.example.com',
      'ftp://127.0.0.1',
    ]) {
      expect(usageMessage(() => parseLoadArgs(['--url', url]))).toMatch(/^Refusing to send load to .*only loopback/);
    }
  });

  it('refuses a URL with a path, a query or credentials, and text that is not a URL', () => {
    expect(usageMessage(() => parseLoadArgs(['--url', 'http://127.0.0.1:8080/predict']))).toMatch(/base URL/);
    expect(usageMessage(() => parseLoadArgs(['--url', 'http://127.0.0.1:8080/?a=1']))).toMatch(/base URL/);
    expect(usageMessage(() => parseLoadArgs(['--url', 'http://u:p@127.0.0.1:8080']))).toMatch(/base URL/);
    expect(usageMessage(() => parseLoadArgs(['--url', '127.0.0.1:8080x']))).toMatch(/Expected `--url` to be a URL/);
  });

  it('bounds every number and names the flag, the value and the range', () => {
    expect(usageMessage(() => parseLoadArgs(['-c', '0']))).toBe(
      'Expected `--connections` to be an integer from 1 to 2048, got `0`',
    );
    expect(usageMessage(() => parseLoadArgs(['-d', '601']))).toBe(
      'Expected `--duration` to be an integer from 1 to 600, got `601`',
    );
    expect(usageMessage(() => parseLoadArgs(['-a', '200001']))).toMatch(/`--amount` .* got `200001`/);
    expect(usageMessage(() => parseLoadArgs(['-d', '1.5']))).toMatch(/`--duration` .* got `1.5`/);
    expect(usageMessage(() => parseLoadArgs(['--warmup', '-1']))).toMatch(/--warmup/);
    expect(usageMessage(() => parseLoadArgs(['-c', '8,8']))).toBe(
      'Expected `--connections` to list distinct values, got `8,8`',
    );
  });

  it('refuses --duration with --amount, and --env or --vary with --url', () => {
    expect(usageMessage(() => parseLoadArgs(['-d', '5', '-a', '5']))).toBe(
      'Give either `--duration` or `--amount`, not both',
    );
    expect(usageMessage(() => parseLoadArgs(['--url', 'http://127.0.0.1:1', '--env', 'A=1']))).toMatch(
      /cannot be combined with `--url`/,
    );
    expect(usageMessage(() => parseLoadArgs(['--url', 'http://127.0.0.1:1', '--vary', 'A=1,2']))).toMatch(
      /cannot be combined with `--url`/,
    );
  });

  it('refuses an unknown body kind, a raw body with several images, unknown flags and positionals', () => {
    expect(usageMessage(() => parseLoadArgs(['--body', 'xml']))).toBe(
      'Expected `--body` to be one of multipart, raw, json, v2-binary, got `xml`',
    );
    expect(usageMessage(() => parseLoadArgs(['--body', 'raw', '--images-per-request', '2']))).toMatch(
      /exactly one image/,
    );
    expect(usageMessage(() => parseLoadArgs(['--rate', '5']))).toMatch(/--rate/);
    expect(usageMessage(() => parseLoadArgs(['extra']))).toMatch(/extra/);
  });

  it('caps the number of runs (settings times connection counts)', () => {
    const many = Array.from({ length: 17 }, (_, i) => i + 1).join(',');
    expect(usageMessage(() => parseLoadArgs(['-c', many, '--vary', 'MAX_QUEUE=1,2']))).toBe(
      'At most 32 runs (settings x connection counts) per invocation, got 34',
    );
  });
});

describe('env and vary', () => {
  it('parses NAME=VALUE pairs, keeping = inside values', () => {
    expect(parseEnvPairs(['A=1', 'B_2=x=y', 'C='])).toEqual({ A: '1', B_2: 'x=y', C: '' });
  });

  it('refuses lower-case or missing names and duplicates', () => {
    expect(() => parseEnvPairs(['a=1'])).toThrow(/upper-case NAME, got `a=1`/);
    expect(() => parseEnvPairs(['=1'])).toThrow(UsageError);
    expect(() => parseEnvPairs(['NOEQUALS'])).toThrow(UsageError);
    expect(() => parseEnvPairs(['A=1', 'A=2'])).toThrow('`--env A` is given twice');
  });

  it('parses --vary into a key and at least two distinct values', () => {
    expect(parseVary('MAX_BATCH_SIZE=1,8,16')).toEqual({ key: 'MAX_BATCH_SIZE', values: ['1', '8', '16'] });
    for (const bad of ['MAX_BATCH_SIZE=1', 'MAX_BATCH_SIZE=1,1', 'MAX_BATCH_SIZE=1,', 'x=1,2'])
      expect(() => parseVary(bad)).toThrow(UsageError);
    expect(usageMessage(() => parseLoadArgs(['--vary', 'A=1,2', '--env', 'A=3']))).toBe(
      '`A` is given both in `--env` and `--vary`',
    );
  });

  it('makes one setting per --vary value, each with the common --env', () => {
    const settings = settingsOf(parseLoadArgs(['--vary', 'MAX_BATCH_SIZE=1,8', '--env', 'MAX_QUEUE=16']));
    expect(settings).toEqual([
      { label: 'MAX_BATCH_SIZE=1 MAX_QUEUE=16', env: { MAX_QUEUE: '16', MAX_BATCH_SIZE: '1' } },
      { label: 'MAX_BATCH_SIZE=8 MAX_QUEUE=16', env: { MAX_QUEUE: '16', MAX_BATCH_SIZE: '8' } },
    ]);
    expect(settingsOf(parseLoadArgs([]))).toEqual([{ label: 'defaults', env: {} }]);
    expect(settingsOf(parseLoadArgs(['--url', 'http://127.0.0.1:9']))).toEqual([
      { label: 'http://127.0.0.1:9', env: {} },
    ]);
  });
});

describe('isLoopbackUrl and parseBaseUrl', () => {
  it('knows 127.0.0.0/8, ::1 and localhost, over http and https only', () => {
    expect(isLoopbackUrl(new URL('https://127.255.255.254'))).toBe(true);
    expect(isLoopbackUrl(new URL('http://LOCALHOST:1'))).toBe(true);
    expect(isLoopbackUrl(new URL('http://128.0.0.1'))).toBe(false);
    expect(isLoopbackUrl(new URL('ws://127.0.0.1'))).toBe(false);
    expect(parseBaseUrl('https://localhost:8443')).toBe('https://localhost:8443');
  });
});

describe('parseBenchArgs', () => {
  it('runs all four measurements for 10 s windows at 1, 8 and 32 connections by default', () => {
    expect(parseBenchArgs([])).toMatchObject({
      only: [1, 2, 3, 4],
      durationS: 10,
      warmupS: 2,
      jitWarmupImages: 2500,
      saturate: undefined,
      connections: [1, 8, 32],
      rounds: 4,
    });
  });

  it('takes the JIT warm-up in images, 0 turning it off, and refuses a negative count', () => {
    expect(parseBenchArgs(['--jit-warmup', '0']).jitWarmupImages).toBe(0);
    expect(parseBenchArgs(['--jit-warmup', '300']).jitWarmupImages).toBe(300);
    expect(usageMessage(() => parseBenchArgs(['--jit-warmup', '-1']))).toMatch(/--jit-warmup/);
  });

  it('takes the rounds of measurements 1 and 4 and refuses counts outside 1..10', () => {
    expect(parseBenchArgs(['--rounds', '5']).rounds).toBe(5);
    expect(usageMessage(() => parseBenchArgs(['--rounds', '0']))).toBe(
      'Expected `--rounds` to be an integer from 1 to 10, got `0`',
    );
    expect(usageMessage(() => parseBenchArgs(['--rounds', '2.5']))).toMatch(/--rounds/);
  });

  it('selects a subset in order and takes durations and the saturating count as flags', () => {
    expect(parseBenchArgs(['--only', '3,1', '--duration', '4', '--saturate', '16', '--warmup', '0'])).toMatchObject({
      only: [1, 3],
      durationS: 4,
      saturate: 16,
      warmupS: 0,
    });
  });

  it('refuses unknown measurements and a saturating count whose 8x overload exceeds the connection limit', () => {
    expect(usageMessage(() => parseBenchArgs(['--only', '6']))).toBe(
      'Expected `--only` to be an integer from 1 to 5, got `6`',
    );
    // 5 is opt-in: runs when named, not by default.
    expect(parseBenchArgs(['--only', '5']).only).toEqual([5]);
    expect(parseBenchArgs([]).only).toEqual([1, 2, 3, 4]);
    expect(usageMessage(() => parseBenchArgs(['--saturate', '257']))).toBe(
      'Expected `--saturate` to be an integer from 1 to 256, got `257`',
    );
    expect(usageMessage(() => parseBenchArgs(['--url', 'http://127.0.0.1:1']))).toMatch(/--url/);
  });
});
