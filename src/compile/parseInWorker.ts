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

/** A started parse worker: it sets up its renderer at once and renders when given the nodes. */
export interface ParseWorker {
  render(identities: NodeIdentity[]): WorkerJob;
  /** Stop a worker that will not be given nodes. */
  stop(): void;
}

/**
 * Start the worker before the nodes to render are known (while the main thread reads schema YAML), so its
 * start-up (0.3–0.4 s of module loading) is not on the way.
 */
export function startParseWorker(workerUrl: URL, setup: ParseRendererSetup, vars: Vars, log: LogSink): ParseWorker {
  const { log: _log, runStartedAt, ...shared } = setup.shared;
  void _log;
  const input: ParseWorkerInput = {
    setup: { ...setup, shared: { ...shared, runStartedAt: runStartedAt.toISOString() } },
    vars: vars.snapshot(),
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
  // Until render() hands it out, a failure must not surface as an unhandled rejection.
  result.catch(() => undefined);
  // Waiting for nodes, it must not keep the process alive (a YAML error may end the parse first). After
  // the listeners above: adding a 'message' listener refs the worker again.
  worker.unref();
  const stop = () => void worker.terminate();
  return {
    render: (identities) => {
      worker.ref();
      worker.postMessage(identities);
      return { result, cancel: stop };
    },
    stop,
  };
}
