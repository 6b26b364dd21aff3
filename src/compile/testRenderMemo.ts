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
import { randomUUID } from 'node:crypto';
import type { Placeholder, RefCall } from '../project/nodes.js';
import type { NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import { BUILTIN_PACKAGE } from './macros.js';
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

/**
 * Kiln's own generic tests whose macros only print `column_name` into the SQL (read nowhere else), when no
 * project or package defines a macro of theirs (`test_unique`, `default__test_unique`, `<adapter>__…`): their
 * tests on different columns share a shape, rendered once with a stand-in column name that each test's
 * column then replaces in the SQL. Another template may branch on the column's value, so only these.
 */
const COLUMN_GENERIC = ['test_unique', 'test_not_null', 'test_accepted_values', 'test_relationships'];

/** Which of COLUMN_GENERIC keep Kiln's own definitions among `definitions` (every macro of the project). */
export function columnGenericTests(definitions: readonly { name: string; packageName: string }[]): Set<string> {
  const out = new Set(COLUMN_GENERIC);
  for (const d of definitions) {
    if (d.packageName === BUILTIN_PACKAGE) continue;
    const base = COLUMN_GENERIC.find((t) => d.name === t || d.name.endsWith(`__${t}`));
    if (base) out.delete(base);
  }
  return out;
}

/** The position of `column_name` among a template's arguments, when its macro is column-generic. */
function columnPosition(rawCode: string, generic: ReadonlySet<string>): number | undefined {
  const macro = /^\{\{ (\w+)\(/.exec(rawCode)?.[1];
  if (!macro || !generic.has(macro)) return undefined;
  const at = /\bcolumn_name=__kiln_test\.args\[(\d+)\]/.exec(rawCode);
  return at ? Number(at[1]) : undefined;
}

/** A kept render, for tests on `target`; with `column`, rendered with the stand-in for that argument. */
interface Kept {
  entry: ParseEntry;
  target: string;
  column?: number;
}

export class TestRenderMemo {
  private readonly kept = new Map<string, Kept>();
  /** Column-generic shapes whose render with the stand-in could not serve: each test renders as it is. */
  private readonly noStandIn = new Set<string>();
  /**
   * The stand-in column name: it is swapped out wherever it is in the SQL, so it must be text no argument,
   * config or template can hold (a fixed one could be written in YAML): random, per parse.
   */
  private readonly standIn = `__kiln_column_${randomUUID().replace(/-/g, '')}__`;
  /** columnPosition of each template text (thousands of tests share a few). */
  private readonly columnPositions = new Map<string, number | undefined>();
  /** Config objects numbered for keys (a render that read its config serves that config only). */
  private readonly configIds = new WeakMap<object, number>();
  private configCount = 0;
  /** Tests given a kept render (for --debug and tests). */
  hits = 0;

  /** `columnGeneric`: columnGenericTests() of the project (none: tests share a shape only per column). */
  constructor(private readonly columnGeneric: ReadonlySet<string> = new Set()) {}

  /** The parse entry of `identity`: from a kept render of its shape when there is one, else rendered. */
  render(renderer: Renderer, identity: NodeIdentity): ParseEntry {
    const test = testArgs(identity);
    if (!test) return renderParseRecorded(renderer, identity).entry;
    const column = this.columnArgument(identity, test);
    const key = this.keyOf(identity, test, column);
    const kept = this.kept.get(key);
    if (kept) {
      this.hits++;
      return this.serve(kept, test);
    }
    if (column === undefined) {
      const { entry, logged } = renderParseRecorded(renderer, identity);
      this.keep(key, entry, test, logged);
      return entry;
    }
    const served = this.noStandIn.has(key) ? undefined : this.renderWithStandIn(renderer, identity, test, key, column);
    return served ?? renderParseRecorded(renderer, identity).entry;
  }

  /**
   * Render a column-generic test with the stand-in for its column, and keep that render when it can serve;
   * undefined when it cannot, or fails (its error would name the stand-in): the test then renders as it is.
   */
  private renderWithStandIn(renderer: Renderer, identity: NodeIdentity, test: TestTemplateArgs, key: string, column: number): ParseEntry | undefined {
    const args = test.args.map((a, i) => (i === column ? this.standIn : a));
    try {
      const { entry, logged } = renderParseRecorded(renderer, { ...identity, extra: { ...identity.extra, __kiln_test: { ...test, args } } });
      const kept = this.keep(key, entry, test, logged, column);
      if (kept) return this.serve(kept, test);
    } catch {
      // rendered as it is by the caller
    }
    this.noStandIn.add(key);
    return undefined;
  }

  /** Keep `entry` (a render of `test`) for its shape when it can serve other tests. */
  private keep(key: string, entry: ParseEntry, test: TestTemplateArgs, logged: boolean, column?: number): Kept | undefined {
    if (this.kept.has(key) || !reusable(entry, test, logged)) return undefined;
    // Kept as a copy with lists of its own: the rendered node owns the entry's.
    const kept: Kept = { entry: retarget(entry, test.name, test), target: test.name, column };
    this.kept.set(key, kept);
    return kept;
  }

  private serve(kept: Kept, test: TestTemplateArgs): ParseEntry {
    const entry = retarget(kept.entry, kept.target, test);
    if (kept.column !== undefined) entry.sql = entry.sql.split(this.standIn).join(test.args[kept.column] as string);
    return entry;
  }

  /**
   * Keep a render of `identity` made elsewhere (on the parse worker) for the next tests of its shape; not
   * for a column-generic shape, which is kept only from a render with the stand-in.
   */
  learn(identity: NodeIdentity, entry: ParseEntry, logged: boolean): void {
    const test = testArgs(identity);
    if (!test || this.columnArgument(identity, test) !== undefined) return;
    this.keep(this.keyOf(identity, test, undefined), entry, test, logged);
  }

  /** The shape of a generic test (tests of one shape render alike), or undefined for any other node. */
  shapeOf(identity: NodeIdentity): string | undefined {
    const test = testArgs(identity);
    return test && this.keyOf(identity, test, this.columnArgument(identity, test));
  }

  /** The position of the test's column among its arguments, when it may share a shape across columns. */
  private columnArgument(identity: NodeIdentity, test: TestTemplateArgs): number | undefined {
    let at = this.columnPositions.get(identity.rawCode);
    if (at === undefined && !this.columnPositions.has(identity.rawCode)) this.columnPositions.set(identity.rawCode, (at = columnPosition(identity.rawCode, this.columnGeneric)));
    return at !== undefined && typeof test.args[at] === 'string' ? at : undefined;
  }

  private keyOf(identity: NodeIdentity, test: TestTemplateArgs, column: number | undefined): string {
    let id = this.configIds.get(identity.baseConfig);
    if (id === undefined) this.configIds.set(identity.baseConfig, (id = this.configCount++));
    const args = column === undefined ? test.args : test.args.map((a, i) => (i === column ? this.standIn : a));
    return JSON.stringify([identity.packageName, identity.rawCode, id, args, test.version, test.source], exactValue);
  }
}
