/**
 * `kiln compile` for the selected nodes: compiled SQL into target/compiled/ and manifest.json, with the
 * parse state saved alongside, in the order that lets file creation (on the writer thread) overlap the
 * artifact saves, and nothing done again when the last compile still stands.
 *
 * @example
 *   const result = await compileProject(inv, inv.select(['model', 'analysis', 'snapshot', 'test']));
 *   for (const e of result.failures) printFatal('text', e);
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../errors.js';
import type { SqlNode } from '../project/nodes.js';
import { reuseManifestWithKey, writeManifest } from './artifacts.js';
import type { Invocation } from './invocation.js';

export interface CompileResult {
  /** Nodes that failed to compile (each is reported; the others are still compiled, as in dbt). */
  failures: KilnError[];
  /** The last compile still stood: nothing was compiled or written but the manifest's metadata. */
  unchanged: boolean;
  compileSeconds: number;
  /** Saving the parse state and manifest.json. */
  artifactsSeconds: number;
  /** Waiting for the compiled files after that. */
  flushSeconds: number;
}

/** Whether any node renders at compile time (its SQL may depend on the warehouse). */
export function rendersAtCompileTime(inv: Invocation): boolean {
  return [...inv.parsed.nodes.values()].some((n) => 'needsExecuteRender' in n && n.needsExecuteRender);
}

/**
 * Compile `ids`. The invocation must defer its parse save (InvocationOptions.deferParseSave): it is made
 * here, before the compile when a template renders now (such a render may change what it can reach —
 * `config.get('tags').append(…)`, `graph` — and that must not go into the snapshot), otherwise while the
 * compiled files are written.
 */
export async function compileProject(inv: Invocation, ids: readonly string[]): Promise<CompileResult> {
  const wh = await inv.openWarehouse({ connectLazily: true });
  if (rendersAtCompileTime(inv)) inv.saveParseState();
  const started = performance.now();
  const seconds = (since: number) => (performance.now() - since) / 1000;

  // Nothing to write when the last compile was of this very parse, its files are intact, what it rendered
  // at compile time comes out the same and manifest.json is the one it wrote. Keyed by the selection too:
  // `compile -s a` after a whole compile would otherwise keep that compile's manifest.
  const compileKey = inv.parseIdentity && createHash('sha1').update(`${inv.parseIdentity.key}\0${ids.join('\n')}`).digest('hex');
  const previous = compileKey ? await wh.compiler.previousCompile(compileKey) : undefined;
  if (previous && reuseManifestWithKey(inv, previous)) {
    inv.saveParseState();
    return { failures: [], unchanged: true, compileSeconds: seconds(started), artifactsSeconds: 0, flushSeconds: 0 };
  }

  const failures: KilnError[] = [];
  for (const id of ids) {
    try {
      await wh.compiler.compile(inv.graph.node(id) as SqlNode);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      failures.push(e);
    }
  }
  const compileSeconds = seconds(started);
  // The compiled files are being written on the writer thread; this thread saves the parse state and the
  // manifest meanwhile.
  const artifactsStarted = performance.now();
  inv.saveParseState();
  const manifestKey = writeManifest(inv);
  const artifactsSeconds = seconds(artifactsStarted);
  const flushStarted = performance.now();
  const record = compileKey && manifestKey && failures.length === 0 ? { key: compileKey, manifestKey, rendered: wh.compiler.renderedHashes() } : undefined;
  await wh.compiler.flush(record);
  return { failures, unchanged: false, compileSeconds, artifactsSeconds, flushSeconds: seconds(flushStarted) };
}
