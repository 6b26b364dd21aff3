/**
 * The parse worker: renders a share of a large project's models and tests on the second core. It receives
 * the renderer setup when it starts, then up to two jobs in messages, each a list of node identities and a
 * shared queue it takes them from alongside the main thread:
 *   - `speculate`: the models as they stand before schema YAML is read, sent while the main thread reads it.
 *     A render that fails is left to the main thread; each render says whether it read the node's config,
 *     and carries its own log lines, so that the main thread can keep it or redo it.
 *   - `render`: the nodes the parse needs, final. The first error ends the job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../errors.js';
import { Vars, type VarsSnapshot } from '../project/vars.js';
import type { NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import { createParseRenderer, renderParseRecorded, type ParseRendererSetup } from './parseRender.js';
import { WorkQueue } from './workQueue.js';

export interface ParseWorkerInput {
  setup: Omit<ParseRendererSetup, 'shared'> & { shared: Omit<ParseRendererSetup['shared'], 'log' | 'runStartedAt'> & { runStartedAt: string } };
  vars: VarsSnapshot;
}

export type SerializedError = { kind: KilnError['kind']; message: string; location?: KilnError['location']; hint?: string; node?: string };

export type LogLine = { level: 'info' | 'debug' | 'warn'; message: string; node?: string };

export interface ParseWorkerJob {
  kind: 'speculate' | 'render';
  /** A node of a shared template has its text in `templates`, at `template`, and '' as its raw code. */
  identities: (NodeIdentity & { template?: number })[];
  templates: string[];
  queue: SharedArrayBuffer;
}

/** One speculative render: the identity's index, its entry, whether it read the config, and its log lines. */
export type SpeculatedRender = [index: number, entry: ParseEntry, configRead: boolean, logs: LogLine[]];

export type ParseWorkerOutput =
  | { kind: 'speculate'; renders: SpeculatedRender[] }
  /** Each render: the identity's index, its entry, and whether it logged (TestRenderMemo.learn). */
  | { kind: 'render'; entries: [number, ParseEntry, boolean][]; logs: LogLine[]; error?: SerializedError };

const input = workerData as ParseWorkerInput;
let logs: LogLine[] = [];
const setup: ParseRendererSetup = {
  ...input.setup,
  shared: { ...input.setup.shared, runStartedAt: new Date(input.setup.shared.runStartedAt), log: (level, message, node) => logs.push({ level, message, node }) },
};
// What the main thread's graph is while parsing (parse.ts graphVariable): empty, and new at every read.
const renderer = createParseRenderer(setup, Vars.fromSnapshot(input.vars), () => ({ nodes: {}, sources: {} }));

/**
 * Equal name lists become one array: the answer is copied to the main thread by structured clone, which
 * writes an object shared by many entries once (20,000 tests list the same macros and read no vars).
 * Nothing changes these lists after the parse.
 */
const lists = new Map<string, string[]>();
function shareLists(entry: ParseEntry): ParseEntry {
  const same = (list: string[]) => {
    const key = list.join('\u0000');
    const known = lists.get(key);
    if (known) return known;
    lists.set(key, list);
    return list;
  };
  entry.macros = same(entry.macros);
  entry.varsRead = same(entry.varsRead);
  entry.envRead = same(entry.envRead);
  entry.flagsRead = same(entry.flagsRead);
  return entry;
}

function speculate(identities: NodeIdentity[], queue: WorkQueue): ParseWorkerOutput {
  const renders: SpeculatedRender[] = [];
  for (let i = queue.take(); i !== undefined; i = queue.take()) {
    logs = [];
    try {
      const { entry, configRead } = renderParseRecorded(renderer, identities[i]);
      renders.push([i, shareLists(entry), configRead, logs]);
    } catch {
      // Perhaps only for want of the YAML's config; the main thread renders it again and reports a real error.
    }
  }
  logs = [];
  return { kind: 'speculate', renders };
}

function render(identities: NodeIdentity[], queue: WorkQueue): ParseWorkerOutput {
  const entries: [number, ParseEntry, boolean][] = [];
  try {
    for (let i = queue.take(); i !== undefined; i = queue.take()) {
      const { entry, logged } = renderParseRecorded(renderer, identities[i]);
      entries.push([i, shareLists(entry), logged]);
    }
  } catch (e) {
    const error: SerializedError = e instanceof KilnError
      ? { kind: e.kind, message: e.message, location: e.location, hint: e.hint, node: e.node }
      : { kind: 'compile', message: (e as Error).message ?? String(e) };
    return { kind: 'render', entries, logs, error };
  }
  return { kind: 'render', entries, logs };
}

parentPort!.on('message', (job: ParseWorkerJob) => {
  for (const identity of job.identities) if (identity.template !== undefined) identity.rawCode = job.templates[identity.template];
  const queue = WorkQueue.of(job.queue, job.identities.length);
  parentPort!.postMessage(job.kind === 'speculate' ? speculate(job.identities, queue) : render(job.identities, queue));
});
