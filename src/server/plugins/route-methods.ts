// Which methods each route path answers, so that the not-found handler can tell a known path asked
// with the wrong method (405 Method Not Allowed, with the Allow header RFC 9110 15.5.6 requires)
// from a path that does not exist (404). Filled from fastify's onRoute hook, so every route counts,
// whichever plugin adds it; the router itself only answers for one method at a time.

interface RoutePath {
  readonly pattern: RegExp;
  readonly methods: Set<string>;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `/v2/models/:model/infer` -> one segment per parameter; `*` -> the rest; a trailing slash is optional. */
function patternOf(url: string): RegExp {
  const segments = url.split('/').map((segment) => {
    if (segment === '*') return '.*';
    return segment.startsWith(':') ? '[^/]+' : escape(segment);
  });
  return new RegExp(`^${segments.join('/')}/?$`);
}

export class RouteMethods {
  readonly #paths = new Map<string, RoutePath>();

  add(url: string, methods: string | readonly string[]): void {
    const path = this.#paths.get(url) ?? { pattern: patternOf(url), methods: new Set<string>() };
    for (const method of typeof methods === 'string' ? [methods] : methods) path.methods.add(method.toUpperCase());
    this.#paths.set(url, path);
  }

  /** The methods routes answer on this path (without its query), sorted; empty when no route matches. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.#paths.values()) {
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }
}
