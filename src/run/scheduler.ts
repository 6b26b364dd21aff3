/**
 * The scheduler: a ready queue over the selected sub-DAG with N workers. A node starts the moment its last
 * selected ancestor finishes (no level-by-level barriers). A failed node marks its descendants skipped while
 * independent branches continue; with fail-fast, the first failure stops everything.
 */
import { MinHeap, type ProjectGraph } from '../graph/dag.js';

export type Outcome = 'ok' | 'failed';

export interface ScheduleOptions {
  threads: number;
  failFast: boolean;
  /** Run one node; resolve with whether downstream nodes may run. */
  run: (id: string, threadIndex: number) => Promise<Outcome>;
  /** Called for each node that will not run because an upstream node failed (or fail-fast stopped the run). */
  skip: (id: string, cause: string | undefined) => void;
  /** Called once on the first failure when fail-fast is on (to cancel in-flight work). */
  onFailFast?: () => void;
  /** Aborted on SIGINT/SIGTERM: no further node starts; the rest are skipped. */
  signal?: AbortSignal;
  /** Change the dependencies before anything runs (`kiln build` makes models wait for their parents' tests). */
  adjustDependencies?: (deps: Map<string, Set<string>>) => void;
}

/**
 * Dependencies among the selected nodes, through unselected ones: if a → b → c and only a and c are
 * selected, c waits for a (dbt's subset graph).
 */
export function selectedDependencies(graph: ProjectGraph, selected: ReadonlySet<string>): Map<string, Set<string>> {
  const memo = new Map<string, Set<string>>();
  const nearest = (id: string): Set<string> => {
    const hit = memo.get(id);
    if (hit) return hit;
    const out = new Set<string>();
    memo.set(id, out);
    for (const p of graph.parents(id)) {
      if (selected.has(p)) out.add(p);
      else for (const q of nearest(p)) out.add(q);
    }
    return out;
  };
  const deps = new Map<string, Set<string>>();
  for (const id of graph.topologicalOrder()) if (selected.has(id)) deps.set(id, nearest(id));
  return deps;
}

export async function schedule(graph: ProjectGraph, selected: ReadonlySet<string>, opts: ScheduleOptions): Promise<void> {
  const deps = selectedDependencies(graph, selected);
  opts.adjustDependencies?.(deps);
  const order = [...deps.keys()];
  const position = new Map(order.map((id, i) => [id, i]));
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [id, parents] of deps) {
    waitingOn.set(id, parents.size);
    for (const p of parents) {
      const list = dependents.get(p) ?? [];
      list.push(id);
      dependents.set(p, list);
    }
  }
  // Ready nodes run in topological (file) order, so output is stable when threads=1.
  const ready = new MinHeap<string>((a, b) => position.get(a)! - position.get(b)!);
  for (const id of order) if (waitingOn.get(id) === 0) ready.push(id);
  const done = new Set<string>();
  let stopped = false;
  let running = 0;
  // Workers with nothing ready wait here; any finished node wakes them all to re-check the queue.
  const waiters: (() => void)[] = [];
  const wakeAll = () => {
    for (const w of waiters.splice(0)) w();
  };

  const skipDownstream = (id: string, cause: string) => {
    const stack = [...(dependents.get(id) ?? [])];
    while (stack.length) {
      const child = stack.pop()!;
      if (done.has(child)) continue;
      done.add(child);
      opts.skip(child, cause);
      stack.push(...(dependents.get(child) ?? []));
    }
  };

  const finish = (id: string, outcome: Outcome) => {
    done.add(id);
    if (outcome === 'failed') {
      skipDownstream(id, id);
      if (opts.failFast && !stopped) {
        stopped = true;
        opts.onFailFast?.();
      }
    } else {
      for (const child of dependents.get(id) ?? []) {
        const left = waitingOn.get(child)! - 1;
        waitingOn.set(child, left);
        if (left === 0 && !done.has(child)) ready.push(child);
      }
    }
    wakeAll();
  };

  const onAbort = () => {
    stopped = true;
    wakeAll();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stopped = true;

  const worker = async (threadIndex: number) => {
    for (;;) {
      if (stopped) return;
      const id = ready.pop();
      if (id === undefined) {
        if (running === 0) return;
        await new Promise<void>((r) => waiters.push(r));
        continue;
      }
      running++;
      let outcome: Outcome;
      try {
        outcome = await opts.run(id, threadIndex);
      } catch {
        outcome = 'failed';
      }
      running--;
      finish(id, outcome);
    }
  };
  const threads = Math.max(1, opts.threads);
  await Promise.all(Array.from({ length: threads }, (_, i) => worker(i + 1)));
  opts.signal?.removeEventListener('abort', onAbort);

  // Stopped (fail-fast, interrupt) — or, were the dependencies ever to form a cycle, waiting forever: every
  // node that did not run is reported as skipped, never left out of the results.
  for (const id of order) {
    if (!done.has(id)) {
      done.add(id);
      opts.skip(id, undefined);
    }
  }
}
