// The error a call throws, checked to be of the expected class (tests then assert its code/fields).
export function thrown<E extends Error>(type: new (...args: never[]) => E, call: () => unknown): E {
  try {
    call();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}
