// The items of one request (images or tensor rows) run concurrently (the engine batches them,
// possibly with other requests' items) and come back in request order. The first failure cancels
// the rest, so a request never holds queue places it no longer needs.
import { errors } from '../../errors.ts';

export interface RunAllOptions {
  /** Most items one request may carry (TOO_MANY_IMAGES past it). */
  readonly maxItems: number;
  /** The caller's cancellation (the client went away). */
  readonly signal?: AbortSignal | undefined;
  /** Told how many items were started, also when the request fails. */
  readonly onCount?: ((count: number) => void) | undefined;
}

/** An AbortController that also aborts (with the same reason) when `outer` does. */
function linkedController(outer: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (outer === undefined) return controller;
  if (outer.aborted) controller.abort(outer.reason);
  else outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
  return controller;
}

/**
 * Runs `work` on every item as it arrives, concurrently, and returns the results in order.
 * Throws the request's first error (cancelling the rest); TOO_MANY_IMAGES past `maxItems`;
 * NO_IMAGES when there is nothing to do.
 */
export async function runAll<T, R>(
  items: AsyncIterable<T> | Iterable<T>,
  work: (item: T, signal: AbortSignal) => Promise<R>,
  options: RunAllOptions,
): Promise<R[]> {
  const controller = linkedController(options.signal);
  const { signal } = controller;
  const pending: Promise<R>[] = [];
  try {
    for await (const item of items) {
      // An item already failed (or the client left): stop reading and starting work.
      if (signal.aborted) break;
      if (pending.length === options.maxItems) throw errors.TOO_MANY_IMAGES(String(options.maxItems));
      const task = work(item, signal);
      // The first failure cancels the request's other items; their CANCELLED is not reported.
      task.catch((err: unknown) => controller.abort(err));
      pending.push(task);
    }
  } catch (err) {
    controller.abort(err);
  }
  options.onCount?.(pending.length);
  const settled = await Promise.allSettled(pending);
  if (signal.aborted) throw signal.reason;
  if (settled.length === 0) throw errors.NO_IMAGES();
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<R>).value);
}
