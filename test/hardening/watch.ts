// A watch on the process's filesystem and network: every call to an fs function (callback,
// sync and promise forms) and every outgoing connection, with its string arguments, until
// stop() restores them. The hardening tests assert what hostile requests make the server touch.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
type Fn = (...args: unknown[]) => unknown;

/** Records calls to every fs function and every outgoing connection until stop() restores them. */
export function watchFilesystemAndNetwork(): { calls: string[]; stop(): void } {
  const calls: string[] = [];
  const restore: (() => void)[] = [];
  const wrap = (owner: Record<string, unknown>, name: string, label: string): void => {
    const original = owner[name];
    if (typeof original !== 'function') return;
    owner[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(
        `${label}(${args
          .filter((a) => typeof a === 'string' || a instanceof URL)
          .map(String)
          .join(', ')})`,
      );
      return (original as Fn).apply(this, args);
    };
    restore.push(() => (owner[name] = original));
  };
  const fs = require('node:fs') as Record<string, unknown>;
  for (const name of Object.keys(fs)) if (/^[a-z]/.test(name) && name !== 'promises') wrap(fs, name, `fs.${name}`);
  const promises = fs['promises'] as Record<string, unknown>;
  for (const name of Object.keys(promises)) wrap(promises, name, `fs.promises.${name}`);
  const net = require('node:net') as { Socket: { prototype: Record<string, unknown> } } & Record<string, unknown>;
  wrap(net.Socket.prototype, 'connect', 'net.Socket.connect');
  wrap(net, 'connect', 'net.connect');
  wrap(net, 'createConnection', 'net.createConnection');
  wrap(require('node:dns') as Record<string, unknown>, 'lookup', 'dns.lookup');
  wrap(globalThis as unknown as Record<string, unknown>, 'fetch', 'fetch');
  syncBuiltinESMExports();
  return {
    calls,
    stop() {
      for (const undo of restore.reverse()) undo();
      syncBuiltinESMExports();
    },
  };
}
