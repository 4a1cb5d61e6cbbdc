import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { command, parseFlags, usage } from '../../load/lib/cli.ts';
import { usageMessage } from './usage-error.ts';

const run = promisify(execFile);

const SAMPLE = command({
  name: 'npm run sample',
  summary: 'A sample command.',
  flags: {
    count: { kind: 'int', short: 'n', min: 1, max: 9, default: 3, help: 'how many' },
    ratio: { kind: 'number', value: 'R', min: 0.5, max: 2, help: 'a ratio' },
    sizes: { kind: 'int-list', min: 1, max: 100, default: [1, 8], help: 'sizes' },
    mode: { kind: 'choice', choices: ['fast', 'slow'], default: 'fast', help: 'the mode' },
    name: { kind: 'string', help: 'a name', defaultText: 'the host name' },
    env: { kind: 'repeated', short: 'e', help: 'K=V pairs' },
    url: { kind: 'url', help: 'a service' },
  },
});

const refusal = (argv: string[]) => usageMessage(() => parseFlags(SAMPLE, argv));

describe('parseFlags', () => {
  it('gives each flag its default, undefined without one, and an empty list for a repeated flag', () => {
    expect(parseFlags(SAMPLE, [])).toEqual({
      help: false,
      values: { count: 3, ratio: undefined, sizes: [1, 8], mode: 'fast', name: undefined, env: [], url: undefined },
    });
  });

  it('reads every kind, long and short, and --help', () => {
    const { help, values } = parseFlags(SAMPLE, [
      '-n',
      '9',
      '--ratio=0.75',
      '--sizes',
      '100,1',
      '--mode',
      'slow',
      '--name',
      'x',
      '-e',
      'A=1',
      '--env',
      'B=2',
      '--url',
      'http://127.0.0.1:8080/',
      '-h',
    ]);
    expect(help).toBe(true);
    expect(values).toEqual({
      count: 9,
      ratio: 0.75,
      sizes: [100, 1],
      mode: 'slow',
      name: 'x',
      env: ['A=1', 'B=2'],
      url: 'http://127.0.0.1:8080',
    });
  });

  it('hands out a fresh copy of a list default', () => {
    parseFlags(SAMPLE, []).values.sizes.push(99);
    expect(parseFlags(SAMPLE, []).values.sizes).toEqual([1, 8]);
  });

  it('names the flag, the value and what is allowed in every error', () => {
    expect(refusal(['-n', '10'])).toBe('Expected `--count` to be an integer from 1 to 9, got `10`');
    expect(refusal(['--count', '2x'])).toBe('Expected `--count` to be an integer from 1 to 9, got `2x`');
    expect(refusal(['--ratio', '0.4'])).toBe('Expected `--ratio` to be a number from 0.5 to 2, got `0.4`');
    expect(refusal(['--ratio', '1e0'])).toBe('Expected `--ratio` to be a number from 0.5 to 2, got `1e0`');
    expect(refusal(['--sizes', '8,8'])).toBe('Expected `--sizes` to list distinct values, got `8,8`');
    expect(refusal(['--mode', 'warp'])).toBe('Expected `--mode` to be one of fast, slow, got `warp`');
    expect(refusal(['--url', 'http://192.168.1.1'])).toMatch(/^Refusing to send load to .*only loopback/);
  });

  it('refuses unknown flags, a flag without its value and positionals, naming them', () => {
    expect(refusal(['--counts', '3'])).toMatch(/'--counts'/);
    expect(refusal(['--name'])).toMatch(/--name/);
    expect(refusal(['stray'])).toMatch(/'stray'/);
  });
});

describe('usage', () => {
  it('lists every flag of the table with its alias, placeholder, bounds and default, and --help', () => {
    const lines = usage(SAMPLE).split('\n');
    expect(lines.slice(0, 3)).toEqual(['Usage: npm run sample -- [options]', 'A sample command.', '']);
    const expected: Record<string, RegExp> = {
      count: /^ {2}-n, --count N +how many \(1 to 9; default: 3\)$/,
      ratio: /^ {6}--ratio R +a ratio \(0\.5 to 2\)$/,
      sizes: /^ {6}--sizes N\[,N\.\.\.\] +sizes \(1 to 100; default: 1,8\)$/,
      mode: /^ {6}--mode KIND +the mode \(fast \| slow; default: fast\)$/,
      name: /^ {6}--name TEXT +a name \(default: the host name\)$/,
      env: /^ {2}-e, --env K=V +K=V pairs \(repeatable\)$/,
      url: /^ {6}--url URL +a service$/,
    };
    const flagLines = lines.slice(3);
    expect(flagLines).toHaveLength(Object.keys(SAMPLE.flags).length + 1);
    for (const [name, pattern] of Object.entries(expected)) {
      expect(
        flagLines.find((line) => line.includes(`--${name} `)),
        name,
      ).toMatch(pattern);
    }
    expect(flagLines.at(-1)).toMatch(/^ {2}-h, --help +print this and exit$/);
  });

  it('keeps --help for itself', () => {
    expect(() => command({ name: 'x', summary: '', flags: { help: { kind: 'string', help: '' } } })).toThrow(/--help/);
  });
});

// Every load/ script as package.json starts it, on this Node.js: --help, then a flag it lacks.
const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
const LOAD_SCRIPTS = [
  'load',
  'bench',
  'bench:model',
  'bench:preprocess',
  'bench:engine',
  'bench:grpc',
  'fuzz',
  'soak',
] as const;

describe('the load scripts', { timeout: 60_000 }, () => {
  it.concurrent.each(LOAD_SCRIPTS)('npm run %s answers --help and refuses an unknown flag', async (name) => {
    const script = scripts[name] ?? '';
    expect(script, `package.json scripts.${name}`).toMatch(/^tsx load\/\S+\.ts$/);
    const file = script.slice('tsx '.length);
    const tsx = (...args: string[]) => run(process.execPath, ['--import', 'tsx', file, ...args], { timeout: 30_000 });
    const [help, refused] = await Promise.allSettled([tsx('--help'), tsx('--no-such-flag')]);
    expect(help.status).toBe('fulfilled');
    const { stdout } = (help as PromiseFulfilledResult<{ stdout: string }>).value;
    expect(stdout.split('\n')[0]).toBe(`Usage: npm run ${name} -- [options]`);
    expect(stdout).toMatch(/^ {2}-h, --help +print this and exit$/m);
    expect(refused.status).toBe('rejected');
    const err = (refused as PromiseRejectedResult).reason as { code: number; stderr: string; stdout: string };
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/^Unknown option '--no-such-flag'/);
    expect(err.stderr).toContain(stdout.trim());
  });
});
