/**
 * Compiling node templates with generated code shared between templates of the same shape.
 *
 * Nunjucks turns each template into JavaScript and V8 compiles that; for 10,000 distinct model files this
 * was about half the cost of a cold parse (lexing and parsing 0.5 s, code generation 0.5 s, `new Function`
 * 0.25 s, V8 compiling each function on first call 0.5 s). Yet most models differ only in their SQL text,
 * the names they ref() and the strings they pass to macros: `select … from {{ ref('orders') }}`. Here a
 * template is parsed as usual, then its raw text, string literals and source positions are replaced in
 * the syntax tree by numbered stand-ins before code generation. The generated code then depends only on
 * the template's structure; it is compiled once per structure into a factory that takes the template's
 * own literals and positions, and every template of that structure reuses it.
 *
 * The stand-ins stay expressions: text and strings become `__kiln_lits[i]`, line and column numbers
 * `__kiln_pos[i]`. Strings whose value the code generator spells into syntax or names are left as they
 * are: dict keys (object literal keys), attribute names (`a.b`) and literals called as functions (both go
 * into call names for error messages). Whenever a stand-in would not come out as a whole expression, or
 * anything else goes wrong, the template is compiled the ordinary way. Only the code generation is per
 * template still; the saving is V8's compiling, once per structure instead of once per template.
 *
 * @example
 *   const shapes = new TemplateShapes(env);
 *   const t = shapes.compile("select * from {{ ref('orders') }}", 'models/a.sql');
 */
import { createRequire } from 'node:module';
import nunjucks from 'nunjucks';
import { lastAtOrBefore, lineStarts, SHARED, templateSkeleton, type TemplateSkeleton } from './templateSkeleton.js';

const require = createRequire(import.meta.url);

interface AstNode {
  typename: string;
  lineno: number;
  colno: number;
  fields: string[];
  value?: unknown;
  [field: string]: unknown;
}

interface CompilerInstance {
  compile(node: unknown, frame?: unknown): void;
  getCode(): string;
}

const compilerModule = require('nunjucks/src/compiler') as { Compiler: new (name: string, throwOnUndefined?: boolean) => CompilerInstance };
const parserModule = require('nunjucks/src/parser') as { parse(src: string, extensions: unknown[], opts: object): AstNode };
const transformerModule = require('nunjucks/src/transformer') as { transform(ast: AstNode, asyncFilters: string[], name: string): AstNode };

type Props = Record<string, unknown>;
type Factory = (lits: readonly string[], pos: readonly number[]) => Props;

/** Markers for string stand-ins: control characters no template text is expected to hold. */
const MARK = '\u0001';
const LIT = /"\u0001(\d+)\u0001"/g;
/** Position stand-ins: numbers no template is expected to hold (checked: a template holding them is compiled as usual). */
const POS_BASE = 917_350_000_000;
const POS_DIGITS = '91735';
const POS = /\b91735(\d{7})\b/g;

interface EnvInternals {
  asyncFilters: string[];
  extensionsList: { preprocess?: (src: string) => string }[];
  opts: { throwOnUndefined?: boolean };
}

/** The literals and positions taken out of one template's tree. */
interface Extracted {
  lits: string[];
  pos: number[];
  /** For each literal, where its node's position is in `pos`. */
  litAt?: number[];
}

/** Replace text, string literals and positions in `ast` by stand-ins; returns what was taken out. */
function extract(ast: AstNode): Extracted {
  const lits: string[] = [];
  const pos: number[] = [];
  const litAt: number[] = [];
  const seen = new Set<AstNode>();
  const visit = (node: AstNode, keepValue: boolean) => {
    if (seen.has(node)) return;
    seen.add(node);
    const at = pos.length;
    pos.push(node.lineno, node.colno);
    node.lineno = POS_BASE + at;
    node.colno = POS_BASE + at + 1;
    const isText = node.typename === 'TemplateData' || node.typename === 'Literal';
    if (isText && !keepValue && typeof node.value === 'string' && node.value !== '') {
      lits.push(node.value);
      litAt.push(at);
      node.value = `${MARK}${lits.length - 1}${MARK}`;
    }
    // Every child, not only the declared fields: a `{% set x %}…{% endset %}` block's body is a `body`
    // the Set node does not declare, and its text and positions must become stand-ins like any other.
    for (const field of Object.keys(node)) {
      // A Pair's key may be an object literal key; a LookupVal's val is an attribute name; a FunCall's
      // name is spelt (through Kiln's _getNodeName) into the call's name for error messages.
      const keep = (node.typename === 'Pair' && field === 'key') || (node.typename === 'LookupVal' && field === 'val') ||
        (node.typename === 'FunCall' && field === 'name');
      const child = node[field];
      if (Array.isArray(child)) {
        for (const c of child) if (isNode(c)) visit(c, keep);
      } else if (isNode(child)) visit(child, keep);
    }
  };
  visit(ast, false);
  return { lits, pos, litAt };
}

function isNode(v: unknown): v is AstNode {
  return typeof v === 'object' && v !== null && typeof (v as AstNode).typename === 'string' && Array.isArray((v as AstNode).fields);
}

/**
 * What the first template of a skeleton taught: its shape's code, and where each of its literals and
 * positions comes from in any template of that skeleton (a value's index; a region of the source and an
 * offset in it).
 */
interface Learned {
  code: string;
  factory: Factory;
  litFrom: number[];
  posFrom: ([region: number, delta: number] | [constant: unknown])[];
}

export class TemplateShapes {
  private readonly factories = new Map<string, Factory>();
  /** By skeleton key: what its first template taught, or that it could not teach. */
  private readonly skeletons = new Map<string, Learned | 'not learnable'>();
  /** How many templates were compiled through a shape, and how many shapes there are (for tests and diagnosis). */
  shared = 0;
  /** How many of those skipped Nunjucks' lexing, parsing and code generation (their skeleton was known). */
  skipped = 0;

  constructor(private readonly env: nunjucks.Environment) {}

  get shapes(): number {
    return this.factories.size;
  }

  /** A compiled template for `src` (errors are those of an ordinary compile). */
  compile(src: string, path: string): nunjucks.Template {
    const props = this.shapedProps(src, path);
    if (!props) return new nunjucks.Template(src, this.env, path, true);
    this.shared++;
    return new nunjucks.Template({ type: 'code', obj: props } as unknown as string, this.env, path, true);
  }

  /** The template's props through its shape's factory, or undefined to compile it the ordinary way. */
  private shapedProps(src: string, path: string): Props | undefined {
    const skeleton = this.hasPreprocess() ? undefined : templateSkeleton(src);
    const known = skeleton ? this.skeletons.get(skeleton.key) : undefined;
    try {
      if (skeleton && typeof known === 'object') {
        const { lits, pos } = this.valuesOf(known, skeleton, src);
        this.skipped++;
        return known.factory(lits, pos);
      }
      const shaped = this.shape(src, path);
      if (!shaped) return undefined;
      let factory = this.factories.get(shaped.code);
      if (!factory) {
        factory = new Function('__kiln_lits', '__kiln_pos', shaped.code) as Factory;
        this.factories.set(shaped.code, factory);
      }
      if (skeleton && known === undefined) this.learn(skeleton, src, shaped, factory);
      return factory(shaped.lits, shaped.pos);
    } catch {
      return undefined;
    }
  }

  /**
   * The shape's code and this template's literals and positions, from its skeleton alone when a template
   * of the same skeleton was compiled before (undefined otherwise). For tests: it must equal shape().
   */
  fromSkeleton(src: string): { code: string; lits: string[]; pos: number[] } | undefined {
    const skeleton = this.hasPreprocess() ? undefined : templateSkeleton(src);
    const known = skeleton ? this.skeletons.get(skeleton.key) : undefined;
    return skeleton && typeof known === 'object' ? { code: known.code, ...this.valuesOf(known, skeleton, src) } : undefined;
  }

  private hasPreprocess(): boolean {
    return (this.env as unknown as EnvInternals).extensionsList.some((ext) => ext.preprocess);
  }

  /** This template's literals and positions, by what the skeleton's first template taught. */
  private valuesOf(known: Learned, skeleton: TemplateSkeleton, src: string): Extracted {
    const lines = lineStarts(src);
    const pos: unknown[] = [];
    for (const from of known.posFrom) {
      if (from.length === 1) {
        pos.push(from[0], from[0]);
        continue;
      }
      const offset = skeleton.regionStarts[from[0]] + from[1];
      const line = lastAtOrBefore(lines, offset);
      pos.push(line, offset - lines[line]);
    }
    return { lits: known.litFrom.map((i) => skeleton.values[i]), pos: pos as number[] };
  }

  /**
   * Learn from a template compiled the ordinary way where each of its literals and positions sits in its
   * skeleton: a literal is the value whose region its node starts (text) or whose opening quote it starts
   * at (a string); a position is a region and an offset in it. Not learnable: a literal that is not a value,
   * a value that is no literal (Nunjucks spells it into the code: a dict key, say), a position inside a
   * value (it would not carry over to another template).
   */
  private learn(skeleton: TemplateSkeleton, src: string, shaped: { code: string; lits: string[]; pos: number[]; litAt: number[] }, factory: Factory): void {
    const lines = lineStarts(src);
    const starts = skeleton.regionStarts;
    const regionOf = (line: unknown, col: unknown): [number, number] | undefined => {
      if (typeof line !== 'number' || typeof col !== 'number' || line >= lines.length) return undefined;
      const offset = lines[line] + col;
      const region = lastAtOrBefore(starts, offset);
      return [region, offset - starts[region]];
    };
    const failed = () => {
      this.skeletons.set(skeleton.key, 'not learnable');
    };
    const litFrom: number[] = [];
    for (const [i, at] of shaped.litAt.entries()) {
      const found = regionOf(shaped.pos[at], shaped.pos[at + 1]);
      if (!found) return failed();
      const [region, delta] = found;
      const own = skeleton.regionValues[region];
      // Text starts its region; a string's token starts at its opening quote, the last character before its region.
      const value = own >= 0 && delta === 0 ? own
        : own === SHARED && starts[region] + delta === starts[region + 1] - 1 ? skeleton.regionValues[region + 1] : -1;
      if (value < 0 || skeleton.values[value] !== shaped.lits[i]) return failed();
      litFrom.push(value);
    }
    if (litFrom.length !== skeleton.values.length || new Set(litFrom).size !== litFrom.length) return failed();
    const posFrom: Learned['posFrom'] = [];
    for (let k = 0; k < shaped.pos.length; k += 2) {
      const [line, col] = [shaped.pos[k], shaped.pos[k + 1]];
      if (typeof line !== 'number' && line === col) {
        posFrom.push([line]);
        continue;
      }
      const found = regionOf(line, col);
      if (!found || (skeleton.regionValues[found[0]] !== SHARED && found[1] > 0)) return failed();
      posFrom.push(found);
    }
    this.skeletons.set(skeleton.key, { code: shaped.code, factory, litFrom, posFrom });
  }

  /**
   * The shape's generated code and this template's literals and positions; undefined when the template
   * cannot be shared (it is then compiled the ordinary way, which also reports its errors).
   */
  shape(src: string, path: string): { code: string; lits: string[]; pos: number[]; litAt: number[] } | undefined {
    if (src.includes(MARK) || src.includes(POS_DIGITS)) return undefined;
    try {
      const env = this.env as unknown as EnvInternals;
      const processed = env.extensionsList.reduce((s, ext) => (ext.preprocess ? ext.preprocess(s) : s), src);
      const ast = transformerModule.transform(parserModule.parse(processed, env.extensionsList, env.opts), env.asyncFilters, path);
      const { lits, pos, litAt } = extract(ast);
      const compiler = new compilerModule.Compiler(path, env.opts.throwOnUndefined);
      compiler.compile(ast);
      const code = compiler.getCode()
        .replace(LIT, (_m, i: string) => `__kiln_lits[${i}]`)
        .replace(POS, (_m, i: string) => `__kiln_pos[${Number(i)}]`);
      // A stand-in that did not come out as a whole expression (inside a longer string, say) is left over.
      if (code.includes(MARK) || code.includes(POS_DIGITS)) return undefined;
      return { code, lits, pos, litAt: litAt! };
    } catch {
      return undefined;
    }
  }
}
