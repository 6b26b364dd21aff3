/** The scheduler: ready-queue semantics (no level barriers), skipping, fail-fast, thread limit. */
import { describe, expect, it } from 'vitest';
import { ProjectGraph } from '../../src/graph/dag.js';
import type { GraphNode } from '../../src/project/nodes.js';
import { schedule, selectedDependencies, type Outcome } from '../../src/run/scheduler.js';

function graphOf(edges: [string, string][], ids: string[]): ProjectGraph {
  const nodes = new Map<string, GraphNode>(ids.map((id) => [id, { uniqueId: id, name: id } as GraphNode]));
  const g = new ProjectGraph(nodes);
  for (const [a, b] of edges) g.addEdge(a, b);
  return g;
}

/** A run function whose nodes finish only when the test says so. */
function controlled() {
  const events: string[] = [];
  const pending = new Map<string, (o: Outcome) => void>();
  let wake: (() => void) | undefined;
  const run = (id: string) =>
    new Promise<Outcome>((resolve) => {
      events.push(`start ${id}`);
      pending.set(id, (o) => {
        events.push(`end ${id}`);
        resolve(o);
      });
      wake?.();
    });
  const started = async (id: string) => {
    while (!pending.has(id)) await new Promise<void>((r) => (wake = r));
  };
  const finish = async (id: string, outcome: Outcome = 'ok') => {
    await started(id);
    pending.get(id)!(outcome);
    pending.delete(id);
    await new Promise((r) => setTimeout(r, 0));
  };
  return { events, run, finish, started };
}

describe('scheduler', () => {
  it('starts a node as soon as its last parent finishes, while a slow sibling still runs', async () => {
    // a -> b, slow (independent). With 2 threads: a and slow start; a ends; b starts before slow ends.
    const g = graphOf([['a', 'b']], ['a', 'b', 'slow']);
    const c = controlled();
    const done = schedule(g, new Set(['a', 'b', 'slow']), { threads: 2, failFast: false, run: c.run, skip: () => {} });
    await c.finish('a');
    await c.started('b');
    await c.finish('b');
    await c.finish('slow');
    await done;
    expect(c.events).toEqual(['start a', 'start slow', 'end a', 'start b', 'end b', 'end slow']);
  });

  it('never runs more than `threads` nodes at once', async () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const g = graphOf([], ids);
    let running = 0;
    let peak = 0;
    await schedule(g, new Set(ids), {
      threads: 2,
      failFast: false,
      skip: () => {},
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return 'ok';
      },
    });
    expect(peak).toBe(2);
  });

  it('skips every descendant of a failure, through unselected nodes, and keeps other branches going', async () => {
    // a -> b -> c -> d; x independent; b is not selected, so d still waits on a through it.
    const g = graphOf([['a', 'b'], ['b', 'c'], ['c', 'd'], ['a', 'e']], ['a', 'b', 'c', 'd', 'e', 'x']);
    const selected = new Set(['a', 'c', 'd', 'e', 'x']);
    expect([...selectedDependencies(g, selected).get('c')!]).toEqual(['a']);
    const ran: string[] = [];
    const skipped: [string, string | undefined][] = [];
    await schedule(g, selected, {
      threads: 1,
      failFast: false,
      run: async (id) => {
        ran.push(id);
        return id === 'a' ? 'failed' : 'ok';
      },
      skip: (id, cause) => skipped.push([id, cause]),
    });
    expect(ran).toEqual(['a', 'x']);
    expect(skipped.sort()).toEqual([['c', 'a'], ['d', 'a'], ['e', 'a']]);
  });

  it('fail-fast stops starting nodes and skips the rest, once', async () => {
    const g = graphOf([], ['a', 'b', 'c', 'd']);
    const ran: string[] = [];
    const skipped: string[] = [];
    let stops = 0;
    await schedule(g, new Set(['a', 'b', 'c', 'd']), {
      threads: 1,
      failFast: true,
      onFailFast: () => stops++,
      run: async (id) => {
        ran.push(id);
        return id === 'b' ? 'failed' : 'ok';
      },
      skip: (id) => skipped.push(id),
    });
    expect(ran).toEqual(['a', 'b']);
    expect(skipped).toEqual(['c', 'd']);
    expect(stops).toBe(1);
  });

  it('treats a throwing run as a failure', async () => {
    const g = graphOf([['a', 'b']], ['a', 'b']);
    const skipped: string[] = [];
    await schedule(g, new Set(['a', 'b']), {
      threads: 2,
      failFast: false,
      run: async () => {
        throw new Error('boom');
      },
      skip: (id) => skipped.push(id),
    });
    expect(skipped).toEqual(['b']);
  });
});
