// What a model name and a version may be. A name is a folder of the repository and a URL path
// segment, so it is a plain file name: no separators, no leading dot (no "..", no hidden
// folders), nothing to percent-encode. The builder's --name follows the same rule.
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MODEL_NAME_ALLOWED = 'letters, digits, _ . - (1 to 64, starting with a letter or digit)';

/** Version folders and URL versions: a positive integer without leading zeros ("1", "20240601"). */
const VERSION_PATTERN = /^[1-9][0-9]{0,9}$/;
export const MAX_VERSION = 2 ** 31 - 1;

export function isModelName(text: string): boolean {
  return MODEL_NAME_PATTERN.test(text);
}

/** The version a folder or URL segment names, or undefined when it is not a positive integer. */
export function parseVersion(text: string): number | undefined {
  if (!VERSION_PATTERN.test(text)) return undefined;
  const version = Number(text);
  return version <= MAX_VERSION ? version : undefined;
}

/** What is wrong with a model name, for an error message (undefined when it is valid). */
export function modelNameProblem(text: string): string | undefined {
  if (isModelName(text)) return undefined;
  if (text.length === 0) return 'it is empty';
  if (text.length > 64) return 'it is longer than 64 characters';
  if (/[/\\]/.test(text)) return 'it holds a path separator; name a folder of the repository, not a path';
  if (text.startsWith('.')) return 'it starts with a dot';
  return `expected ${MODEL_NAME_ALLOWED}`;
}
