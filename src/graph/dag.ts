/**
 * The project DAG: an edge parent → child for every ref() and source(). Unknown refs and cycles are errors
 * that name files; walks are breadth-first with optional depth (for `2+model`).
 */
import { alg, Graph } from '@dagrejs/graphlib';
import { KilnError } from '../errors.js';
import { unknownRefError, unknownSourceError } from '../compile/compileNode.js';
import type { ParsedProject } from '../compile/parse.js';
import type { GraphNode, SqlNode, UnitTestNode } from '../project/nodes.js';
import { isSqlNode } from '../project/nodes.js';

export class ProjectGraph {
  // Parents and children are kept as arrays: graphlib stores edges in string-keyed objects, ~6 µs per
  // setEdge, which was 0.3 s of every run of a 30,000-node project. The graphlib Graph is built from them
  // when a graph algorithm needs it (cycle search) or a caller asks for it.
  private readonly parentsOf = new Map<string, string[]>();
  private readonly childrenOf = new Map<string, string[]>();
  private lib?: Graph;
  private order?: string[];

  constructor(readonly nodes: ReadonlyMap<string, GraphNode>) {
    for (const id of nodes.keys()) {
      this.parentsOf.set(id, []);
      this.childrenOf.set(id, []);
    }
  }

  /** Add the edge parent → child (once). */
  addEdge(parent: string, child: string): void {
    const parents = this.listOf(this.parentsOf, child);
    if (parents.includes(parent)) return;
    parents.push(parent);
    this.listOf(this.childrenOf, parent).push(child);
    this.lib = undefined;
    this.order = undefined;
  }

  private listOf(map: Map<string, string[]>, id: string): string[] {
    let list = map.get(id);
    if (!list) {
      map.set(id, (list = []));
      (map === this.parentsOf ? this.childrenOf : this.parentsOf).set(id, []);
    }
    return list;
  }

  /** The DAG as a graphlib Graph (for its algorithms). */
  get graph(): Graph {
    if (this.lib) return this.lib;
    const g = new Graph({ directed: true });
    for (const id of this.parentsOf.keys()) g.setNode(id);
    for (const [child, parents] of this.parentsOf) for (const p of parents) g.setEdge(p, child);
    return (this.lib = g);
  }

  node(id: string): GraphNode {
    return this.nodes.get(id)!;
  }

  parents(id: string): readonly string[] {
    return this.parentsOf.get(id) ?? [];
  }

  children(id: string): readonly string[] {
    return this.childrenOf.get(id) ?? [];
  }

  private walk(start: Iterable<string>, next: (id: string) => readonly string[], depth?: number): Set<string> {
    const seen = new Set<string>();
    let frontier = [...start];
    for (let d = 0; frontier.length && (depth === undefined || d < depth); d++) {
      const nextFrontier: string[] = [];
      for (const id of frontier) {
        for (const n of next(id)) {
          if (!seen.has(n)) {
            seen.add(n);
            nextFrontier.push(n);
          }
        }
      }
      frontier = nextFrontier;
    }
    return seen;
  }

  ancestors(ids: Iterable<string>, depth?: number): Set<string> {
    return this.walk(ids, (id) => this.parents(id), depth);
  }

  descendants(ids: Iterable<string>, depth?: number): Set<string> {
    return this.walk(ids, (id) => this.children(id), depth);
  }

  /** The order topologicalOrder() gave for these same nodes and edges (restored, not recomputed). */
  presetOrder(order: string[]): void {
    this.order = order;
  }

  /**
   * Every node id, parents before children. Ties go to the node found first (models by path, then
   * seeds, sources), so runs with one thread are reproducible. Kahn's algorithm over a binary heap.
   */
  topologicalOrder(): string[] {
    if (this.order) return this.order;
    // The heap holds ranks (numbers compare faster than ids looked up in a map at every comparison).
    const ids = [...this.nodes.keys()];
    const rank = new Map<string, number>(ids.map((id, i) => [id, i]));
    const indegree = new Int32Array(ids.length);
    const heap = new MinHeap<number>((a, b) => a - b);
    ids.forEach((id, r) => {
      indegree[r] = this.parents(id).length;
      if (indegree[r] === 0) heap.push(r);
    });
    const order: string[] = [];
    while (heap.size > 0) {
      const id = ids[heap.pop()!];
      order.push(id);
      for (const child of this.children(id)) {
        const c = rank.get(child)!;
        if (--indegree[c] === 0) heap.push(c);
      }
    }
    return (this.order = order);
  }
}

/** A binary min-heap: the scheduler's and topological sort's ready queue. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(a[i], a[parent]) >= 0) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.compare(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.compare(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The uniqueIds a node's ref() and source() calls resolve to; throws for an unknown reference (naming the
 * file and line) or a model that refers to itself.
 */
export function resolveParents(parsed: ParsedProject, node: SqlNode): string[] {
  const parents = new Set<string>();
  for (const call of node.refs) {
    const target = parsed.lookupRef(call, node.packageName);
    if (!target) throw unknownRefError(parsed, call, node);
    parents.add(target.uniqueId);
  }
  for (const [s, t] of node.sources) {
    const src = parsed.lookupSource(s, t, node.packageName);
    if (!src) throw unknownSourceError(parsed, node, s, t);
    parents.add(src.uniqueId);
  }
  if (parents.has(node.uniqueId)) {
    throw new KilnError('graph', `${node.resourceType} '${node.name}' refers to itself`, {
      location: { file: node.originalFilePath },
      node: node.uniqueId,
      hint: 'Use {{ this }} to refer to the model\'s own relation (for incremental models).',
    });
  }
  return [...parents];
}

/** A unit test depends on its model and, for typing its inputs, on the model's own parents. */
export function unitTestParents(parsed: ParsedProject, node: UnitTestNode): string[] {
  const model = parsed.nodes.get(node.dependsOn[0]);
  return [...new Set([node.dependsOn[0], ...(model && 'dependsOn' in model ? model.dependsOn : [])])];
}

/** Build the DAG, resolving every ref/source; throws on the first unknown reference or on a cycle. */
export function buildGraph(parsed: ParsedProject): ProjectGraph {
  const pg = new ProjectGraph(parsed.nodes);
  for (const node of parsed.nodes.values()) {
    if (!isSqlNode(node)) continue;
    node.dependsOn = resolveParents(parsed, node);
    for (const p of node.dependsOn) pg.addEdge(p, node.uniqueId);
  }
  for (const node of parsed.nodes.values()) {
    if (node.resourceType !== 'unit_test') continue;
    node.dependsOn = unitTestParents(parsed, node);
    for (const p of node.dependsOn) pg.addEdge(p, node.uniqueId);
  }
  assertAcyclic(pg);
  return pg;
}

/** Throw a cycle error (with the path and files) unless the graph is a DAG. */
export function assertAcyclic(pg: ProjectGraph): void {
  // Kahn's order reaches every node exactly when there is no cycle; only then is Tarjan's search skipped.
  if (pg.topologicalOrder().length !== pg.nodes.size) {
    const cycles = alg.findCycles(pg.graph) as string[][];
    if (cycles.length) throw cycleError(pg, cycles[0]);
  }
}

/**
 * The DAG of nodes whose dependsOn a previous buildGraph resolved and checked (restored from the parse
 * snapshot): no lookups, no cycle search.
 */
export function restoreGraph(nodes: ReadonlyMap<string, GraphNode>, order?: string[]): ProjectGraph {
  const pg = new ProjectGraph(nodes);
  for (const node of nodes.values()) {
    if (!('dependsOn' in node)) continue;
    for (const p of node.dependsOn) pg.addEdge(p, node.uniqueId);
  }
  if (order) pg.presetOrder(order);
  return pg;
}

/** Find one concrete cycle path inside a strongly connected component and describe it with files. */
function cycleError(pg: ProjectGraph, component: string[]): KilnError {
  const inComponent = new Set(component);
  const start = [...component].sort()[0];
  const path: string[] = [start];
  const visited = new Set<string>([start]);
  const dfs = (id: string): boolean => {
    for (const next of pg.children(id)) {
      if (!inComponent.has(next)) continue;
      if (next === start) return true;
      if (visited.has(next)) continue;
      visited.add(next);
      path.push(next);
      if (dfs(next)) return true;
      path.pop();
    }
    return false;
  };
  dfs(start);
  const names = [...path, start].map((id) => pg.node(id).name);
  const files = path.map((id) => `  ${pg.node(id).name}: ${pg.node(id).originalFilePath}`).join('\n');
  const first = pg.node(start);
  return new KilnError('graph', `dependency cycle: ${names.join(' -> ')}\n${files}`, {
    location: { file: first.originalFilePath },
    node: first.uniqueId,
    hint: 'Break the cycle: one of these models must stop ref()-ing the next.',
  });
}
