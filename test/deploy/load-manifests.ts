// Reads every YAML document under deploy/ and the objects the tests look into.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { IContainer } from 'kubernetes-models/v1/Container';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY_DIR = join(ROOT, 'deploy');

export interface Manifest {
  /** Path relative to deploy/, e.g. `kserve/inferenceservice.yaml`. */
  readonly file: string;
  readonly object: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every document of every deploy/**\/*.yaml; a YAML syntax error fails loudly with the file name. */
export function loadManifests(): Manifest[] {
  return yamlFiles(DEPLOY_DIR).flatMap((path) => {
    const file = relative(DEPLOY_DIR, path);
    return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return { file, object: doc.toJS() as Manifest['object'] };
    });
  });
}

export function findManifest(manifests: readonly Manifest[], kind: string, file?: string): Manifest['object'] {
  const found = manifests.filter((m) => m.object.kind === kind && (file === undefined || m.file === file));
  if (found.length !== 1) throw new Error(`expected one ${kind}${file ? ` in ${file}` : ''}, found ${found.length}`);
  return found[0]!.object;
}

/** A container's env as a plain record (value-only entries; valueFrom entries are left out). */
export function envOf(container: IContainer): Record<string, string> {
  return Object.fromEntries((container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
}

/** The `sleep N` of a preStop exec hook, in seconds (0 if there is none). */
export function preStopSleepSeconds(container: IContainer): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' && command[1] !== undefined ? Number(command[1]) : 0;
}
