/**
 * Generic tests of one shape render alike. Thousands of `unique`/`not_null` tests run the same template
 * with the same arguments and config, on different models: their parse renders differ only in the tested
 * model's name, in the ref() (or source()) the template makes of it. So the first render of a shape is
 * kept, and the next tests of that shape get it with the name swapped, instead of a render each.
 *
 * A render is kept only when nothing else of the tested node can be in it: it did not inspect a relation
 * at parse time (`model.name`, `this.schema` … mark it for an execute-time render), did not log, made no
 * config() call, and names the tested model in exactly one ref() (or source()) call. The shape's key holds
 * everything else the render may read of the node: the template, the package, the arguments and the
 * config object (configs are interned: equal configs are one object).
 *
 * @example
 *   const memo = new TestRenderMemo();
 *   const entry = memo.render(renderer, identity); // identity of a generic test, or of any node
 *   memo.learn(other, entryFromWorker, logged);    // a render made on the parse worker
 */
import type { Placeholder, RefCall } from '../project/nodes.js';
import type { NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import { renderParseRecorded } from './parseRender.js';
import type { Renderer } from './renderer.js';

/** `__kiln_test` of a generic test's render (testNodes.ts declareGenericTest). */
interface TestTemplateArgs {
  args: unknown[];
  name: string;
  version: string | number | null;
  source: string | null;
}

function testArgs(identity: NodeIdentity): TestTemplateArgs | undefined {
  const t = identity.sharedTemplate ? identity.extra?.__kiln_test : undefined;
  return t && typeof t === 'object' && typeof (t as TestTemplateArgs).name === 'string' ? (t as TestTemplateArgs) : undefined;
}

/** Whether a placeholder is the tested node's ref() or source() call, for a test on `name`. */
function isTarget(p: Placeholder, test: TestTemplateArgs, name: string): boolean {
  return test.source === null ? p.kind === 'ref' && p.ref.name === name : p.kind === 'source' && p.source === test.source && p.table === name;
}

/** The render names the tested node once, in one call, and nothing else of it: it can serve another target. */
function reusable(entry: ParseEntry, test: TestTemplateArgs, logged: boolean): boolean {
  if (logged || entry.needsExecuteRender || Object.keys(entry.configCalls).length > 0) return false;
  const listed = test.source === null
    ? entry.refs.filter((r) => r.name === test.name).length
    : entry.sources.filter(([s, t]) => s === test.source && t === test.name).length;
  return listed === 1 && entry.placeholders.filter((p) => isTarget(p, test, test.name)).length === 1;
}

/** `entry` (rendered for a test on `from`) as the render of a test on `test.name`. */
function retarget(entry: ParseEntry, from: string, test: TestTemplateArgs): ParseEntry {
  const to = test.name;
  let call: RefCall | undefined;
  const placeholders = entry.placeholders.map((p): Placeholder => {
    if (!isTarget(p, test, from)) return p;
    if (p.kind === 'ref') return { kind: 'ref', ref: (call = { ...p.ref, name: to }) };
    return p.kind === 'source' ? { ...p, table: to } : p;
  });
  // As a render lists them: each call once, the first time it is made.
  const refs: RefCall[] = [];
  for (const r of entry.refs) {
    const next = call && r.name === from ? call : r;
    if (!refs.some((x) => x.name === next.name && x.package === next.package && x.version === next.version)) refs.push(next);
  }
  const sources: [string, string][] = [];
  for (const [s, t] of entry.sources) {
    const next: [string, string] = test.source !== null && s === test.source && t === from ? [s, to] : [s, t];
    if (!sources.some(([a, b]) => a === next[0] && b === next[1])) sources.push(next);
  }
  return { ...entry, refs, sources, placeholders, configCalls: {} };
}

/** A key's values as they are: JSON writes Infinity, NaN and null all as null, and -0 as 0 (YAML has each). */
function exactValue(_key: string, v: unknown): unknown {
  return typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? `\u0000${Object.is(v, -0) ? '-0' : String(v)}` : v;
}

export class TestRenderMemo {
  private readonly kept = new Map<string, { entry: ParseEntry; target: string }>();
  /** Config objects numbered for keys (a render that read its config serves that config only). */
  private readonly configIds = new WeakMap<object, number>();
  private configCount = 0;
  /** Tests given a kept render (for --debug and tests). */
  hits = 0;

  /** The parse entry of `identity`: from a kept render of its shape when there is one, else rendered. */
  render(renderer: Renderer, identity: NodeIdentity): ParseEntry {
    const test = testArgs(identity);
    if (!test) return renderParseRecorded(renderer, identity).entry;
    const kept = this.kept.get(this.keyOf(identity, test));
    if (kept) {
      this.hits++;
      return retarget(kept.entry, kept.target, test);
    }
    const { entry, logged } = renderParseRecorded(renderer, identity);
    this.learn(identity, entry, logged);
    return entry;
  }

  /** Keep a render of `identity` made elsewhere (on the parse worker) for the next tests of its shape. */
  learn(identity: NodeIdentity, entry: ParseEntry, logged: boolean): void {
    const test = testArgs(identity);
    if (!test) return;
    const key = this.keyOf(identity, test);
    // Kept as a copy with lists of its own: the rendered node owns the entry's.
    if (!this.kept.has(key) && reusable(entry, test, logged)) this.kept.set(key, { entry: retarget(entry, test.name, test), target: test.name });
  }

  /** The shape of a generic test (tests of one shape render alike), or undefined for any other node. */
  shapeOf(identity: NodeIdentity): string | undefined {
    const test = testArgs(identity);
    return test && this.keyOf(identity, test);
  }

  private keyOf(identity: NodeIdentity, test: TestTemplateArgs): string {
    let id = this.configIds.get(identity.baseConfig);
    if (id === undefined) this.configIds.set(identity.baseConfig, (id = this.configCount++));
    return JSON.stringify([identity.packageName, identity.rawCode, id, test.args, test.version, test.source], exactValue);
  }
}
