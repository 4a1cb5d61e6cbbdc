// A model's manifest, read before its engine starts (routes need its labels, tensor names and
// preprocessing), with an error naming the file and what is wrong with it (a bare JSON.parse
// message named neither).
import { manifestPathFor, type ModelManifest } from '../../model/manifest.ts';
import { loadManifest } from '../../model/runtime/load-manifest.ts';

export async function readManifest(modelPath: string): Promise<ModelManifest> {
  const where = `The manifest of ${modelPath} (${manifestPathFor(modelPath)})`;
  let manifest: ModelManifest;
  try {
    manifest = await loadManifest(modelPath);
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${where} is not valid JSON: ${err.message}`, { cause: err });
    throw err;
  }
  const missing: string[] = (['inputs', 'outputs', 'labels'] as const).filter((key) => !Array.isArray(manifest[key]));
  for (const key of ['weights', 'preprocess'] as const)
    if (typeof manifest[key] !== 'object' || manifest[key] === null) missing.push(key);
  if (missing.length > 0)
    throw new Error(`${where} lacks ${missing.join(', ')}; rebuild the model with \`npm run build:model\``);
  return manifest;
}
