// The "before" of `npm run bench -- --before REF`: the service as it was at a git commit, checked
// out into a temporary worktree (sharing this checkout's node_modules) and started the way that
// commit's `npm start` starts it, so measurement 1 can drive it beside the current code.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serviceNodeFlags } from '../../lib/server.ts';

export interface BeforeCheckout {
  /** The short commit id, for labels. */
  readonly label: string;
  readonly dir: string;
  /** The node flags of that commit's `npm start` (before its entry point). */
  readonly nodeFlags: readonly string[];
  remove(): void;
}

const git = (args: string[]) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Checks `ref` out into a temporary worktree; remove() takes it away again. */
export function checkoutBefore(ref: string): BeforeCheckout {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = mkdtempSync(join(tmpdir(), 'resnet-serve-before-'));
  git(['worktree', 'add', '--detach', dir, commit]);
  const remove = () => {
    git(['worktree', 'remove', '--force', dir]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
    return { label: commit.slice(0, 7), dir, nodeFlags: serviceNodeFlags(dir), remove };
  } catch (error) {
    // A start script the bench cannot read must not leave the worktree behind.
    remove();
    throw error;
  }
}
