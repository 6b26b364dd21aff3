/**
 * Locating a worker thread's script. Only the built package has the `.js` files; tests that run the
 * TypeScript sources get undefined and do the work on the main thread.
 *
 * @example
 *   const url = workerScript('parseWorker.js'); // dist/src/compile/parseWorker.js, or undefined
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `name` in this folder (src/compile/), when it exists. */
export function workerScript(name: string): URL | undefined {
  const url = new URL(`./${name}`, import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}
