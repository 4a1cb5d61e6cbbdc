// The repository on disk, in Triton's layout: DIR/<model>/<version>/model.onnx, with the manifest
// the builder writes beside it (model.json) and an optional DIR/<model>/config.json. A model is a
// folder whose name is a valid model name; a version is a sub-folder named by a positive integer.
// Only names read from the folder itself are ever joined into a path, and only real folders count
// (symbolic links are skipped), so nothing outside DIR is read. What does not fit the layout is
// skipped with a note saying why (logged by the controller).
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_NAME_ALLOWED, isModelName, parseVersion } from '../classifier/model-name.ts';

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'model.json';
export const CONFIG_FILE = 'config.json';

export interface VersionFolder {
  readonly version: number;
  readonly modelPath: string;
  /** `<model>/<version>/model.onnx`: how the API and the log name it. */
  readonly label: string;
  /** Why it cannot be loaded, seen without opening it (a missing file). */
  readonly problem?: string;
  /** Sizes and modification times of its files: a change means new files to load. */
  readonly signature: string;
}

export interface ModelFolder {
  readonly name: string;
  readonly versions: readonly VersionFolder[];
  /** The text of config.json; undefined when there is none. */
  readonly configText?: string;
  /** Entries skipped, each with the reason. */
  readonly skipped: readonly string[];
}

export interface RepositoryListing {
  /** Model folder names, sorted. */
  readonly models: readonly string[];
  readonly skipped: readonly string[];
}

/** The model folders of `root`: a fresh listing, read each time (names are checked against it). */
export async function listModels(root: string): Promise<RepositoryListing> {
  const entries = await readdir(root, { withFileTypes: true });
  const models: string[] = [];
  const skipped: string[] = [];
  for (const entry of entries.sort(byName)) {
    if (entry.name.startsWith('.')) continue;
    if (!entry.isDirectory()) skipped.push(`${entry.name}: not a folder (each model is a folder)`);
    else if (!isModelName(entry.name)) skipped.push(`${entry.name}: not a model name (${MODEL_NAME_ALLOWED})`);
    else models.push(entry.name);
  }
  return { models, skipped };
}

const byName = (a: Dirent, b: Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function fileSignature(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? `${info.size}@${info.mtimeMs}` : undefined;
  } catch {
    return undefined;
  }
}

async function versionFolder(dir: string, name: string, version: number): Promise<VersionFolder> {
  const modelPath = join(dir, MODEL_FILE);
  const label = `${name}/${version}/${MODEL_FILE}`;
  const [model, manifest] = await Promise.all([fileSignature(modelPath), fileSignature(join(dir, MANIFEST_FILE))]);
  const signature = `${model ?? '-'} ${manifest ?? '-'}`;
  let problem: string | undefined;
  if (model === undefined) problem = `${name}/${version} holds no ${MODEL_FILE}`;
  else if (manifest === undefined)
    problem = `${name}/${version} holds no ${MANIFEST_FILE} (the manifest \`npm run build:model\` writes beside ${MODEL_FILE})`;
  return { version, modelPath, label, signature, ...(problem === undefined ? {} : { problem }) };
}

/** One model folder: its versions (ascending), its config.json text, and what was skipped. */
export async function scanModel(root: string, name: string): Promise<ModelFolder> {
  if (!isModelName(name)) throw new Error(`scanModel: ${JSON.stringify(name)} is not a model name`);
  const dir = join(root, name);
  const entries = await readdir(dir, { withFileTypes: true });
  const versions: VersionFolder[] = [];
  const skipped: string[] = [];
  let configText: string | undefined;
  for (const entry of entries.sort(byName)) {
    if (entry.name.startsWith('.')) continue;
    if (entry.name === CONFIG_FILE && entry.isFile()) {
      configText = await readFile(join(dir, CONFIG_FILE), 'utf8');
      continue;
    }
    if (!entry.isDirectory()) continue;
    const version = parseVersion(entry.name);
    if (version === undefined)
      skipped.push(`${name}/${entry.name}: not a version (version folders are positive integers: 1, 2, ...)`);
    else versions.push(await versionFolder(join(dir, entry.name), name, version));
  }
  versions.sort((a, b) => a.version - b.version);
  return { name, versions, skipped, ...(configText === undefined ? {} : { configText }) };
}

/** A short hash of config.json's text, part of every version's signature (new settings reload it). */
export function configSignature(configText: string | undefined): string {
  return configText === undefined ? 'default' : createHash('sha256').update(configText).digest('hex').slice(0, 16);
}
