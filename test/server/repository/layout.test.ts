// The repository's layout on disk: which folders are models and versions, what is skipped and
// why, and the problems a version folder can have before anything is loaded.
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listModels, scanModel } from '../../../src/server/repository/layout.ts';
import { makeRepository, removeRepository, writeModel } from './fixture-repository.ts';

const root = makeRepository({
  resnet50: { versions: { '1': 'tiny50', '3': 'tiny50', '20': 'tiny50' } },
  resnet18: { versions: { '1': 'tiny18' } },
});
afterAll(() => removeRepository(root));

describe('listModels', () => {
  it('lists the model folders, sorted, and says why every other entry is skipped', async () => {
    writeFileSync(join(root, 'README.md'), 'notes');
    mkdirSync(join(root, 'bad name'));
    mkdirSync(join(root, '-dash'));
    mkdirSync(join(root, '.hidden'));
    symlinkSync(join(root, 'resnet18'), join(root, 'linked'));
    const listing = await listModels(root);
    expect(listing.models).toEqual(['resnet18', 'resnet50']);
    expect(listing.skipped).toEqual([
      expect.stringMatching(/^-dash: not a model name/),
      expect.stringMatching(/^README\.md: not a folder/),
      expect.stringMatching(/^bad name: not a model name/),
      // a symbolic link is not followed: nothing outside the repository is read through it
      expect.stringMatching(/^linked: not a folder/),
    ]);
  });

  it('fails when the repository folder does not exist', async () => {
    await expect(listModels(join(root, 'nowhere'))).rejects.toThrow(/ENOENT/);
  });
});

describe('scanModel', () => {
  it('finds version folders, ascending by number (not by name), with their files', async () => {
    const folder = await scanModel(root, 'resnet50');
    expect(folder.versions.map((v) => v.version)).toEqual([1, 3, 20]);
    expect(folder.versions[0]).toMatchObject({
      label: 'resnet50/1/model.onnx',
      modelPath: join(root, 'resnet50', '1', 'model.onnx'),
    });
    expect(folder.versions.every((v) => v.problem === undefined)).toBe(true);
    expect(folder.configText).toBeUndefined();
  });

  it('skips version folders that are not positive integers, saying why', async () => {
    writeModel(root, 'odd', {
      versions: { '1': 'tiny18', v2: 'tiny18', '1.5': 'tiny18', '0': 'tiny18', '01': 'tiny18' },
    });
    const folder = await scanModel(root, 'odd');
    expect(folder.versions.map((v) => v.version)).toEqual([1]);
    expect(folder.skipped).toEqual(
      ['0', '01', '1.5', 'v2'].map((name) => expect.stringContaining(`odd/${name}: not a version`)),
    );
  });

  it('reports a version folder without a model, or without its manifest', async () => {
    writeModel(root, 'partial', {
      versions: { '1': { onnx: null, manifest: 'tiny18' }, '2': { onnx: 'tiny18', manifest: null }, '3': {} },
    });
    const folder = await scanModel(root, 'partial');
    expect(folder.versions.map((v) => v.problem)).toEqual([
      'partial/1 holds no model.onnx',
      expect.stringMatching(/^partial\/2 holds no model\.json \(the manifest `npm run build:model` writes/),
      'partial/3 holds no model.onnx',
    ]);
  });

  it('reads config.json, and changes a version signature when its files change', async () => {
    writeModel(root, 'configured', { config: { max_queue: 4 }, versions: { '1': 'tiny18' } });
    const before = await scanModel(root, 'configured');
    expect(before.configText).toBe('{"max_queue":4}');
    utimesSync(join(root, 'configured', '1', 'model.onnx'), new Date(), new Date(Date.now() + 5000));
    const after = await scanModel(root, 'configured');
    expect(after.versions[0]?.signature).not.toBe(before.versions[0]?.signature);
  });

  it('refuses a name that is not a model name without touching the filesystem', async () => {
    await expect(scanModel(root, '../resnet50')).rejects.toThrow(/not a model name/);
  });
});
