// Model repositories for the tests, made in a temporary folder from the two tiny models of the
// global setup: `tiny50` (ResNet-50 layout, width 1/8, 10 classes, seed 1), `tiny50-int8` (the same
// weights, int8) and `tiny18` (ResNet-18, width 1/8, 10 classes, seed 2). Files may be replaced by
// other bytes, or left out (null).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { manifestPathFor } from '../../../src/model/manifest.ts';
import { buildApp, type AppDeps } from '../../../src/server/app.ts';
import { loadConfig } from '../../../src/server/config.ts';
import { TEST_ENV } from '../helpers.ts';

export type TinyModel = 'tiny50' | 'tiny50-int8' | 'tiny18';

const TINY_MODELS: readonly string[] = ['tiny50', 'tiny50-int8', 'tiny18'];

export type VersionFiles =
  TinyModel | { readonly onnx?: TinyModel | Buffer | null; readonly manifest?: TinyModel | string | null };

export interface ModelLayout {
  /** config.json: an object is written as JSON, a string as it is. */
  readonly config?: unknown;
  readonly versions: Readonly<Record<string, VersionFiles>>;
}

export function modelPathOf(model: TinyModel): string {
  if (model === 'tiny50') return inject('tinyModelPath');
  return model === 'tiny50-int8' ? inject('tinyInt8ModelPath') : inject('tinyResnet18Path');
}

/** The manifest of a tiny model, parsed (tests derive broken ones from it). */
export function manifestOf(model: TinyModel): Record<string, unknown> {
  return JSON.parse(readFileSync(manifestPathFor(modelPathOf(model)), 'utf8')) as Record<string, unknown>;
}

function writeVersion(dir: string, files: VersionFiles): void {
  mkdirSync(dir, { recursive: true });
  const { onnx, manifest } = typeof files === 'string' ? { onnx: files, manifest: files } : files;
  if (typeof onnx === 'string') cpSync(modelPathOf(onnx), join(dir, 'model.onnx'));
  else if (onnx) writeFileSync(join(dir, 'model.onnx'), onnx);
  if (manifest !== undefined && manifest !== null && TINY_MODELS.includes(manifest))
    cpSync(manifestPathFor(modelPathOf(manifest as TinyModel)), join(dir, 'model.json'));
  else if (typeof manifest === 'string') writeFileSync(join(dir, 'model.json'), manifest);
}

export function writeModel(root: string, name: string, layout: ModelLayout): void {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (layout.config !== undefined)
    writeFileSync(
      join(dir, 'config.json'),
      typeof layout.config === 'string' ? layout.config : JSON.stringify(layout.config),
    );
  for (const [version, files] of Object.entries(layout.versions)) writeVersion(join(dir, version), files);
}

/** A repository in a new temporary folder. */
export function makeRepository(models: Readonly<Record<string, ModelLayout>> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'model-repository-'));
  for (const [name, layout] of Object.entries(models)) writeModel(root, name, layout);
  return root;
}

/** Adds a version the way the README says to: copied under a hidden name, then renamed in place. */
export function addVersion(root: string, name: string, version: number, files: VersionFiles): void {
  const staging = join(root, name, `.incoming-${version}`);
  writeVersion(staging, files);
  renameSync(staging, join(root, name, String(version)));
}

export function removeVersion(root: string, name: string, version: number): void {
  rmSync(join(root, name, String(version)), { recursive: true, force: true });
}

export function removeRepository(root: string | undefined): void {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
}

/** The test settings of test/server/helpers.ts on a repository (MODEL_NAME names the single model only). */
export function repositoryEnv(root: string, env: Record<string, string> = {}): Record<string, string> {
  const { MODEL_NAME: _single, ...rest } = TEST_ENV;
  return { ...rest, MODEL_REPOSITORY: root, ...env };
}

/** The app on a repository, every model loaded at start settled (warm or failed). */
export async function startRepositoryApp(
  root: string,
  env: Record<string, string> = {},
  deps: AppDeps = {},
): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig(repositoryEnv(root, env)), deps);
  await app.registry.whenStarted();
  return app;
}
