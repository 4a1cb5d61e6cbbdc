// RFC 6902 JSON Patch, the operations kustomize's `patches` apply: add (at an index or "-"),
// replace, remove and test. Enough to apply deploy/'s overlays in the tests as kustomize would.
export interface Operation {
  readonly op: 'add' | 'replace' | 'remove' | 'test';
  readonly path: string;
  readonly value?: unknown;
}

type Json = Record<string, unknown> | unknown[];

/** RFC 6902 add, replace, remove and test on a copy of `document` (what kustomize does with these patches). */
export function applyJsonPatch<T>(document: T, operations: readonly Operation[]): T {
  const out = structuredClone(document) as unknown as Json;
  for (const { op, path, value } of operations) {
    const keys = path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop() as string;
    const parent = keys.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], out) as Json;
    if (parent === undefined) throw new Error(`${op} ${path}: no parent`);
    const current = (parent as Record<string, unknown>)[last];
    if (op === 'test') {
      if (JSON.stringify(current) !== JSON.stringify(value))
        throw new Error(`test ${path}: ${JSON.stringify(current)}`);
    } else if (Array.isArray(parent) && op === 'add') {
      parent.splice(last === '-' ? parent.length : Number(last), 0, value);
    } else if (Array.isArray(parent) && op === 'remove') {
      parent.splice(Number(last), 1);
    } else if (op === 'remove') {
      delete (parent as Record<string, unknown>)[last];
    } else {
      if (op === 'replace' && current === undefined) throw new Error(`replace ${path}: nothing there`);
      (parent as Record<string, unknown>)[last] = value;
    }
  }
  return out as unknown as T;
}
