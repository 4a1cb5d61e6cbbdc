// The images an int8 build calibrates on, as the service would see them: every file goes through
// preprocessImage, the code path of POST /predict. A directory's image files (by extension) are
// taken in name order, the first `count` of them; anything that does not decode is an error that
// names the files, so a calibration never silently runs on fewer images than asked for.
// Without a directory, the built-in set in models/calibration/ (its README says where it is from).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGENET_PRESET, preprocessImage, type PreprocessPreset } from '../../preprocess/index.ts';

// Same path from src/model/quantize/ (tsx) and dist/model/quantize/: three levels below the root.
export const BUILT_IN_CALIBRATION_DIR = fileURLToPath(new URL('../../../models/calibration/', import.meta.url));
export const DEFAULT_CALIBRATION_COUNT = 64;
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);
// Calibration photos may be larger than what the service accepts from clients.
const LIMITS = { maxImageBytes: 64 * 2 ** 20, maxImagePixels: 200_000_000 } as const;

export class CalibrationImagesError extends Error {
  readonly code = 'CALIBRATION_IMAGES_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CalibrationImagesError';
  }
}

export interface CalibrationSet {
  /** The directory, or undefined for the built-in set. */
  readonly dir: string | undefined;
  readonly files: readonly string[];
  /** sha256 of the sorted per-file sha256 digests: the set's identity, independent of file names and order. */
  readonly sha256: string;
  readonly tensors: readonly Float32Array[];
}

/** The image files a calibration would read: the first `count` by name. */
export async function calibrationFiles(dir: string | undefined, count: number | undefined): Promise<string[]> {
  const where = dir ?? BUILT_IN_CALIBRATION_DIR;
  let entries;
  try {
    entries = await readdir(where, { withFileTypes: true });
  } catch (error) {
    throw new CalibrationImagesError(`Cannot read the calibration directory ${where}: ${(error as Error).message}`);
  }
  const files = entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
  if (files.length === 0) {
    const seen = entries.map((e) => e.name).slice(0, 10);
    throw new CalibrationImagesError(
      `The calibration directory ${where} holds no image files (${[...IMAGE_EXTENSIONS].join(' ')})${seen.length ? `; it holds: ${seen.join(', ')}` : '; it is empty'}`,
    );
  }
  if (count !== undefined && count > files.length) {
    throw new CalibrationImagesError(
      `--calibration-count ${count} asks for more images than the ${files.length} in ${where}`,
    );
  }
  return files.slice(0, count ?? DEFAULT_CALIBRATION_COUNT).map((name) => join(where, name));
}

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
/** The set's sha256: over the sorted hex digests of its files, one per line. */
const setDigest = (digests: readonly string[]): string => sha256([...digests].sort().join('\n'));

/** The sha256 of the set a calibration would read, without decoding it (a cache key). */
export async function calibrationDigest(dir: string | undefined, count: number | undefined): Promise<string> {
  const files = await calibrationFiles(dir, count);
  return setDigest(await Promise.all(files.map(async (f) => sha256(await readFile(f)))));
}

/** Reads and preprocesses the set; one error lists every file that could not be read or decoded. */
export async function loadCalibrationSet(
  dir: string | undefined,
  count: number | undefined,
  preset: PreprocessPreset = IMAGENET_PRESET,
): Promise<CalibrationSet> {
  const files = await calibrationFiles(dir, count);
  const failures: string[] = [];
  const tensors: Float32Array[] = [];
  const digests: string[] = [];
  for (const file of files) {
    try {
      const bytes = await readFile(file);
      digests.push(sha256(bytes));
      tensors.push(await preprocessImage(bytes, { preset, ...LIMITS }));
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) {
    throw new CalibrationImagesError(
      `${failures.length} of ${files.length} calibration images could not be used (fix or remove them):\n  ${failures.join('\n  ')}`,
    );
  }
  return { dir, files, sha256: setDigest(digests), tensors };
}
