/**
 * The parse worker: renders a share of a large project's models on the second core. It receives the
 * renderer setup when it starts and the node identities in a message, and answers with parse entries (or
 * the first error), plus the log lines templates wrote, for the main thread to print.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../errors.js';
import { Vars, type VarsSnapshot } from '../project/vars.js';
import type { NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import { createParseRenderer, renderParseEntry, type ParseRendererSetup } from './parseRender.js';

export interface ParseWorkerInput {
  setup: Omit<ParseRendererSetup, 'shared'> & { shared: Omit<ParseRendererSetup['shared'], 'log' | 'runStartedAt'> & { runStartedAt: string } };
  vars: VarsSnapshot;
}

export type SerializedError = { kind: KilnError['kind']; message: string; location?: KilnError['location']; hint?: string; node?: string };

export interface ParseWorkerOutput {
  entries: [string, ParseEntry][];
  logs: { level: 'info' | 'debug' | 'warn'; message: string; node?: string }[];
  error?: SerializedError;
}

const input = workerData as ParseWorkerInput;
const logs: ParseWorkerOutput['logs'] = [];
const setup: ParseRendererSetup = {
  ...input.setup,
  shared: { ...input.setup.shared, runStartedAt: new Date(input.setup.shared.runStartedAt), log: (level, message, node) => logs.push({ level, message, node }) },
};
const renderer = createParseRenderer(setup, Vars.fromSnapshot(input.vars), () => ({ nodes: {}, sources: {}, exposures: {}, metrics: {}, groups: {} }));

function run(identities: NodeIdentity[]): ParseWorkerOutput {
  const entries: [string, ParseEntry][] = [];
  try {
    for (const identity of identities) entries.push([identity.uniqueId, renderParseEntry(renderer, identity)]);
  } catch (e) {
    const error: SerializedError = e instanceof KilnError
      ? { kind: e.kind, message: e.message, location: e.location, hint: e.hint, node: e.node }
      : { kind: 'compile', message: (e as Error).message ?? String(e) };
    return { entries, logs, error };
  }
  return { entries, logs };
}

// The nodes come in one message, once the main thread knows them (the worker may start before).
parentPort!.once('message', (identities: NodeIdentity[]) => parentPort!.postMessage(run(identities)));
