/** Starting the parse worker, sharing jobs with it, and turning its answers back into entries, logs and errors. */
import { Worker } from 'node:worker_threads';
import { KilnError } from '../errors.js';
import type { Vars } from '../project/vars.js';
import type { LogSink, NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import type { ParseRendererSetup } from './parseRender.js';
import type { ParseWorkerInput, ParseWorkerJob, ParseWorkerOutput, SpeculatedRender } from './parseWorker.js';
import { WorkQueue } from './workQueue.js';

/**
 * The identities with each shared template's text (a generic test's, the same for thousands of nodes) sent
 * once: structured clone copies a string every time it occurs.
 */
function withSharedTemplates(identities: NodeIdentity[]): Pick<ParseWorkerJob, 'identities' | 'templates'> {
  const templates: string[] = [];
  const index = new Map<string, number>();
  const compact = identities.map((identity) => {
    if (!identity.sharedTemplate) return identity;
    let i = index.get(identity.rawCode);
    if (i === undefined) index.set(identity.rawCode, (i = templates.push(identity.rawCode) - 1));
    return { ...identity, rawCode: '', template: i };
  });
  return { identities: compact, templates };
}

/** A job shared with the worker: this thread takes indices from `queue` too; `result` has what the worker did. */
export interface SharedJob<T> {
  queue: WorkQueue;
  result: Promise<T>;
}

/** A started parse worker: it sets up its renderer at once and renders what it is given. */
export interface ParseWorker {
  /**
   * Render models before their final identities are known (schema YAML can change their config). The
   * caller keeps a render only when its identity held, and renders the rest itself.
   */
  speculate(identities: NodeIdentity[]): SharedJob<SpeculatedRender[]>;
  /**
   * Render nodes; the worker's first error rejects the result. Its log lines are printed when it is done.
   * The last job: the worker stops after it.
   */
  render(identities: NodeIdentity[]): SharedJob<[number, ParseEntry, boolean][]>;
  /** Stop the worker (not needed any more, or the parse failed). */
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
  // Answers come in the order the jobs were sent.
  const waiting: { resolve: (out: ParseWorkerOutput) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  const fail = (e: unknown) => {
    failure ??= e;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  worker.on('message', (out: ParseWorkerOutput) => waiting.shift()?.resolve(out));
  worker.once('error', fail);
  worker.once('exit', (code) => fail(new Error(`internal: the parse worker stopped with code ${code}`)));
  // While it only speculates, it must not keep the process alive (a YAML error may end the parse first).
  // After the listeners above: adding a 'message' listener refs the worker again.
  worker.unref();

  // Each job's result is marked handled where it is made: until the caller awaits it (if ever, after a YAML
  // error), a failure must not surface as an unhandled rejection.
  const send = (kind: ParseWorkerJob['kind'], identities: NodeIdentity[]) => {
    const queue = WorkQueue.create(identities.length);
    const answer = new Promise<ParseWorkerOutput>((resolve, reject) => {
      if (failure !== undefined) reject(failure);
      else waiting.push({ resolve, reject });
    });
    const job: ParseWorkerJob = { kind, ...withSharedTemplates(identities), queue: queue.buffer };
    worker.postMessage(job);
    return { queue, answer };
  };

  return {
    speculate: (identities) => {
      const { queue, answer } = send('speculate', identities);
      const result = answer.then((out) => (out.kind === 'speculate' ? out.renders : []));
      result.catch(() => undefined);
      return { queue, result };
    },
    render: (identities) => {
      worker.ref();
      const { queue, answer } = send('render', identities);
      const result = answer.then((out) => {
        // The last job: the worker would otherwise wait for messages, and keep the process alive.
        void worker.terminate();
        if (out.kind !== 'render') return [];
        for (const l of out.logs) log(l.level, l.message, l.node);
        if (out.error) {
          const e = out.error;
          throw new KilnError(e.kind, e.message, { location: e.location, hint: e.hint, node: e.node });
        }
        return out.entries;
      });
      result.catch(() => undefined);
      return { queue, result };
    },
    stop: () => void worker.terminate(),
  };
}
