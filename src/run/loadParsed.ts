/**
 * The parsed project and its graph, the cheapest correct way: restored from the parse snapshot when nothing
 * the parse read has changed; restored with the changed model files parsed again when only those changed;
 * otherwise parsed (through the per-model parse cache), and the snapshot written for next time.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { invocationValues } from '../compile/context.js';
import { builtinMacroFiles, parseProject, restoreParsed, type ParseOptions, type ParsedProject } from '../compile/parse.js';
import { flagValues, ParseCache } from '../compile/parseCache.js';
import { loadSnapshot, saveDelta, saveSnapshot, snapshotKeys, type ParseReads, type Restored, type SnapshotKeys } from '../compile/parseSnapshot.js';
import { reparseFiles } from '../compile/partialParse.js';
import { workerScript } from '../compile/workerScript.js';
import { assertAcyclic, buildGraph, resolveParents, restoreGraph, type ProjectGraph } from '../graph/dag.js';
import type { GraphNode } from '../project/nodes.js';
import type { Reporter } from './reporter.js';
import { KILN_VERSION } from '../version.js';

/**
 * Below this many nodes to render (models and tests), a worker thread costs more to start (≈0.3 s with its
 * module loading and macro compilation) than it saves: 1,000 models re-rendered after a --vars change took
 * 0.1–0.15 s longer with one.
 */
const PARALLEL_PARSE_MIN_NODES = Number(process.env.KILN_PARSE_WORKER_MIN_NODES ?? 2000);
/** For tests: this thread waits for the worker's share before taking any, so the worker renders every node. */
const PARSE_WORKER_FIRST = process.env.KILN_PARSE_WORKER_FIRST === '1';

/** More changed model files than this and a whole parse (with the parse cache) is about as quick. */
const MAX_PARTIAL_FILES = 200;

/**
 * What the parse was made from, for artifacts that reuse their previous selves: the snapshot's keys with
 * the values of the env vars the parse read folded in (they are checked, not keyed, by the snapshot).
 */
export interface ParseIdentity {
  key: string;
  /** All but the contents of model and analysis files (whose hashes are `sqlFiles`). */
  baseKey: string;
  sqlFiles: Record<string, string>;
}

export interface ParsedState {
  parsed: ParsedProject;
  graph: ProjectGraph;
  /** Unset with --no-partial-parse. */
  identity?: ParseIdentity;
  /** How it was obtained, for --debug. */
  how: string;
  /**
   * Write what this parse leaves for the next one (snapshot or its delta, parse cache). Left to the caller
   * so that `kiln compile` can do it while its compiled files are being written.
   */
  save: () => void;
}

export interface LoadParsedOptions extends Pick<ParseOptions, 'project' | 'target' | 'adapterPrefixes' | 'shared'> {
  adapterType: string;
  /** Use and update target/'s parse snapshot and parse cache (--no-partial-parse turns it off). */
  partialParse: boolean;
  reporter: Reporter;
  /** The env vars read so far by this invocation's load and parse. */
  envReads: () => Iterable<string>;
}

export async function loadParsed(opts: LoadParsedOptions): Promise<ParsedState> {
  const { project } = opts;
  const targetDir = join(project.dir, project.file.targetPath);
  const snapshotPath = join(targetDir, 'kiln_parse_snapshot.bin');
  const macroChecksums = [...builtinMacroFiles(), ...project.macroFiles].map((m) => [m.path, m.checksum]);
  // --threads changes target.threads only: it is keyed as a read (see TARGET_THREADS), not with the target.
  const targetKey = { ...opts.target, threads: undefined };
  const keys = opts.partialParse ? snapshotKeys(project, [KILN_VERSION, opts.adapterType, targetKey, macroChecksums]) : undefined;
  const flags = invocationValues(opts.shared, opts.target.threads);
  // Warnings of the load so far come again with every load; those after (schema YAML, the parse) are kept
  // in the snapshot.
  const loadWarnings = project.diagnostics.warnings.length;
  const found = keys ? loadSnapshot(snapshotPath, keys, flags) : undefined;

  if (found?.kind === 'current') {
    const parsed = restoreParsed(opts, found.restored.nodes, found.restored.disabled);
    project.diagnostics.warnings.splice(loadWarnings, Infinity, ...found.restored.warnings);
    return {
      parsed, graph: restoreGraph(parsed.nodes, found.restored.order), identity: identityOf(keys!, { env: found.env, flagNames: found.flagNames, flags }),
      how: 'nothing changed; nodes restored from the parse snapshot', save: () => undefined,
    };
  }
  if (found?.kind === 'partial' && found.changedFiles.length <= MAX_PARTIAL_FILES) {
    const state = partialParse(opts, found.restored, found.changedFiles, loadWarnings);
    if (state) {
      const reads: ParseReads = { env: [...found.env, ...opts.envReads()], flagNames: [...found.flagNames, ...state.flagsRead], flags };
      const order = state.graph.topologicalOrder();
      return {
        parsed: state.parsed, graph: state.graph, identity: identityOf(keys!, reads),
        how: `${found.changedFiles.length} changed model file(s) parsed again over the parse snapshot`,
        save: () => saveDelta(snapshotPath, keys!, reads, { ...found.restored, order }, [...found.deltaIds, ...state.changedIds]),
      };
    }
  }

  const cache = opts.partialParse
    ? ParseCache.open(join(targetDir, 'kiln_parse_cache.json'), ParseCache.globalKey([KILN_VERSION, project.file.yaml.data, macroChecksums, opts.adapterType]))
    : undefined;
  const workerUrl = workerScript('parseWorker.js');
  const parsed = await parseProject({
    ...opts,
    cache,
    parallel: workerUrl
      ? {
        workerUrl, minNodes: PARALLEL_PARSE_MIN_NODES, workerFirst: PARSE_WORKER_FIRST,
        startEarly: (!cache || cache.isEmpty) && project.models.length * 3 >= PARALLEL_PARSE_MIN_NODES,
      }
      : undefined,
  });
  const graph = buildGraph(parsed);
  if (cache) opts.reporter.debug(`parse cache: ${cache.hits} hit${cache.hits === 1 ? '' : 's'}, ${cache.misses} miss${cache.misses === 1 ? '' : 'es'}`);
  const reads: ParseReads = { env: [...opts.envReads(), ...parsed.envRead], flagNames: parsed.flagsRead, flags };
  // Taken now: later commands add warnings of their own.
  const warnings = project.diagnostics.warnings.slice(loadWarnings);
  const save = () => {
    cache?.save([...parsed.nodes.keys()]);
    if (keys) saveSnapshot(snapshotPath, keys, reads, { nodes: parsed.nodes, disabled: parsed.disabled, warnings, order: graph.topologicalOrder() });
  };
  return {
    parsed, graph, identity: keys && identityOf(keys, reads), save,
    how: `rendered ${parsed.stats.rendered} models, ${parsed.stats.onWorker} of them on a worker thread${parsed.stats.fromShape ? `, ${parsed.stats.fromShape} tests from an earlier one of their shape` : ''}`,
  };
}

function identityOf(keys: SnapshotKeys, reads: ParseReads): ParseIdentity {
  const env = [...new Set(reads.env)].sort().map((name) => [name, process.env[name] ?? null]);
  const values = JSON.stringify([env, flagValues([...new Set(reads.flagNames)], reads.flags)]);
  const withReads = (k: string) => createHash('sha1').update(`${k}\0${values}`).digest('hex');
  return { key: withReads(keys.key), baseKey: withReads(keys.baseKey), sqlFiles: keys.sqlFiles };
}

/**
 * The restored nodes with `changedFiles` parsed again, and their edges resolved. Undefined when the change
 * needs a whole parse: one the partial parse cannot make (see reparseFiles), or a change to a model that
 * has unit tests (their inputs are checked against what the model reads).
 */
function partialParse(
  opts: LoadParsedOptions, restored: Restored, changedFiles: readonly string[], loadWarnings: number,
): { parsed: ParsedProject; graph: ProjectGraph; changedIds: string[]; flagsRead: string[] } | undefined {
  const byPath = new Map([...opts.project.models, ...opts.project.analyses].map((f) => [f.path, f]));
  const base = restoreParsed(opts, restored.nodes, restored.disabled);
  const changed = reparseFiles(base, opts.adapterPrefixes, changedFiles.map((p) => byPath.get(p)!));
  if (!changed) return undefined;
  const changedIds = changed.nodes.map((n) => n.uniqueId);
  const changedSet = new Set(changedIds);
  for (const n of restored.nodes.values()) if (n.resourceType === 'unit_test' && changedSet.has(n.dependsOn[0])) return undefined;
  const nodes: Map<string, GraphNode> = restored.nodes;
  for (const n of changed.nodes) nodes.set(n.uniqueId, n);
  const parsed = restoreParsed(opts, nodes, restored.disabled, base.renderer);
  for (const n of changed.nodes) n.dependsOn = resolveParents(parsed, n);
  const graph = restoreGraph(nodes);
  assertAcyclic(graph);
  opts.project.diagnostics.warnings.splice(loadWarnings, Infinity, ...restored.warnings);
  return { parsed, graph, changedIds, flagsRead: changed.flagsRead };
}
