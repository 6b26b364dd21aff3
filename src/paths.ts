/** Where Kiln's own files are, whether running from dist/ or from sources under vitest. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The Kiln package root (the directory holding package.json and macros/). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'macros'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('internal: cannot find the Kiln package root');
    dir = up;
  }
  return (root = dir);
}

export function builtinMacrosDir(): string {
  return join(packageRoot(), 'macros');
}
