/** Starting the parse worker and turning its answer back into entries, logs and errors. */
import { Worker } from 'node:worker_threads';
import { KilnError } from '../errors.js';
import type { Vars } from '../project/vars.js';
import type { LogSink, NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import type { ParseRendererSetup } from './parseRender.js';
import type { ParseWorkerInput, ParseWorkerOutput } from './parseWorker.js';

export interface WorkerJob {
  result: Promise<[string, ParseEntry][]>;
  cancel(): void;
}

export function renderInWorker(workerUrl: URL, setup: ParseRendererSetup, vars: Vars, identities: NodeIdentity[], log: LogSink): WorkerJob {
  const { log: _log, runStartedAt, ...shared } = setup.shared;
  void _log;
  const input: ParseWorkerInput = {
    setup: { ...setup, shared: { ...shared, runStartedAt: runStartedAt.toISOString() } },
    vars: vars.snapshot(),
    identities,
  };
  const worker = new Worker(workerUrl, { workerData: input });
  const result = new Promise<[string, ParseEntry][]>((resolve, reject) => {
    worker.once('message', (out: ParseWorkerOutput) => {
      for (const l of out.logs) log(l.level, l.message, l.node);
      if (out.error) {
        const e = out.error;
        reject(new KilnError(e.kind, e.message, { location: e.location, hint: e.hint, node: e.node }));
      } else resolve(out.entries);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`internal: the parse worker stopped with code ${code}`));
    });
  });
  return {
    result,
    cancel: () => {
      result.catch(() => undefined);
      void worker.terminate();
    },
  };
}
