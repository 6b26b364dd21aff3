/**
 * Jinja compatibility for Nunjucks, installed once per process: what dbt projects write that plain Nunjucks
 * does not understand. Python string methods (`'a'.upper()`), `list + list`, `{% set ns.x = … %}`,
 * `{{ return(x) }}` inside macros, `{% do %}`, and the Jinja tests and filters dbt code uses.
 */
import { createRequire } from 'node:module';
import nunjucks from 'nunjucks';

const require = createRequire(import.meta.url);

interface NunjucksRuntime {
  memberLookup: (obj: unknown, val: unknown, ...rest: unknown[]) => unknown;
  makeMacro: (argNames: string[], kwargNames: string[], func: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown;
  SafeString: new (s: string) => { val: string; toString(): string };
  kilnAdd?: (a: unknown, b: unknown) => unknown;
  kilnTruthy?: (v: unknown) => boolean;
  kilnOr?: (a: unknown, b: () => unknown) => unknown;
  kilnAnd?: (a: unknown, b: () => unknown) => unknown;
  kilnSetAttr?: (obj: unknown, key: unknown, value: unknown) => void;
}
interface CompilerProto {
  compileAdd(node: unknown, frame: unknown): void;
  compileSet(node: { targets: { typename?: string; target?: unknown; val?: unknown }[]; value?: unknown }, frame: unknown): void;
  compile(node: unknown, frame: unknown): void;
  _emit(s: string): void;
  _emitLine(s: string): void;
  _compileExpression(node: unknown, frame: unknown): void;
  _getNodeName(node: unknown): string;
  compilePair(node: { key: { typename?: string; value?: unknown }; value: unknown }, frame: unknown): void;
  compileKeywordArgs(node: { children: { key: { typename?: string; value?: unknown }; value: unknown }[] }, frame: unknown): void;
}

const runtime = nunjucks.runtime as unknown as NunjucksRuntime;
const nodes = (nunjucks as unknown as { nodes: { Not: { extend(name: string): new (lineno: number, colno: number, target: unknown) => { typename: string } } } }).nodes;
const compilerModule = require('nunjucks/src/compiler') as { Compiler: { prototype: CompilerProto } };

/** Thrown by `return(x)` and caught by the enclosing macro, which then returns `x` as Jinja does in dbt. */
export class MacroReturn {
  constructor(readonly value: unknown) {}
}

/** The value of a Python-style keyword-args object Nunjucks passes as the last argument. */
export function isKwargs(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && (v as { __keywords?: boolean }).__keywords === true;
}

/** Split Nunjucks call arguments into positional args and keyword args. */
export function splitArgs(args: unknown[]): [unknown[], Record<string, unknown>] {
  if (args.length && isKwargs(args[args.length - 1])) {
    const { __keywords, ...kw } = args[args.length - 1] as Record<string, unknown>;
    void __keywords;
    return [args.slice(0, -1), kw];
  }
  return [args, {}];
}

function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

/** Python's str.format with `{}`, `{0}` and `{name}` fields (no format specs beyond passthrough). */
export function pyFormat(template: string, args: unknown[]): string {
  const [pos, kw] = splitArgs(args);
  let auto = 0;
  return template.replace(/\{\{|\}\}|\{([^{}:!]*)(?:![rsa])?(?::[^{}]*)?\}/g, (m, field: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const f = field ?? '';
    if (f === '') return pyStr(pos[auto++]);
    if (/^\d+$/.test(f)) return pyStr(pos[Number(f)]);
    return pyStr(kw[f]);
  });
}

function pySplit(s: string, sep?: unknown, maxsplit?: unknown): string[] {
  const max = typeof maxsplit === 'number' && maxsplit >= 0 ? maxsplit : Infinity;
  if (sep === undefined || sep === null) {
    const parts = s.trim().split(/\s+/).filter((p) => p !== '');
    if (max === Infinity || parts.length <= max + 1) return parts;
    return [...parts.slice(0, max), parts.slice(max).join(' ')];
  }
  const all = s.split(String(sep));
  if (max === Infinity || all.length <= max + 1) return all;
  return [...all.slice(0, max), all.slice(max).join(String(sep))];
}

function stripChars(s: string, chars: unknown, left: boolean, right: boolean): string {
  if (chars === undefined || chars === null) {
    return left && right ? s.trim() : left ? s.trimStart() : s.trimEnd();
  }
  const set = String(chars);
  let a = 0;
  let b = s.length;
  if (left) while (a < b && set.includes(s[a])) a++;
  if (right) while (b > a && set.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

const STRING_METHODS: Record<string, (this: string, ...args: unknown[]) => unknown> = {
  upper() { return this.toUpperCase(); },
  lower() { return this.toLowerCase(); },
  strip(chars) { return stripChars(this, chars, true, true); },
  lstrip(chars) { return stripChars(this, chars, true, false); },
  rstrip(chars) { return stripChars(this, chars, false, true); },
  split(sep, maxsplit) { return pySplit(this, sep, maxsplit); },
  rsplit(sep, maxsplit) {
    if (typeof maxsplit !== 'number' || maxsplit < 0) return pySplit(this, sep);
    const parts = this.split(String(sep ?? ' '));
    if (parts.length <= maxsplit + 1) return parts;
    return [parts.slice(0, parts.length - maxsplit).join(String(sep ?? ' ')), ...parts.slice(parts.length - maxsplit)];
  },
  replace(old, repl, count) {
    const o = String(old);
    const r = String(repl);
    if (typeof count === 'number' && count >= 0) {
      let s = this;
      let out = '';
      for (let i = 0; i < count; i++) {
        const at = s.indexOf(o);
        if (at < 0) break;
        out += s.slice(0, at) + r;
        s = s.slice(at + o.length);
      }
      return out + s;
    }
    return this.split(o).join(r);
  },
  startswith(prefix) {
    return Array.isArray(prefix) ? prefix.some((p) => this.startsWith(String(p))) : this.startsWith(String(prefix));
  },
  endswith(suffix) {
    return Array.isArray(suffix) ? suffix.some((p) => this.endsWith(String(p))) : this.endsWith(String(suffix));
  },
  format(...args) { return pyFormat(this, args); },
  join(items) { return (Array.isArray(items) ? items : [...(items as Iterable<unknown>)]).map(pyStr).join(this); },
  title() { return this.replace(/\w\S*/g, (w) => w[0].toUpperCase() + w.slice(1).toLowerCase()); },
  capitalize() { return this.length ? this[0].toUpperCase() + this.slice(1).toLowerCase() : this; },
  find(sub) { return this.indexOf(String(sub)); },
  rfind(sub) { return this.lastIndexOf(String(sub)); },
  index(sub) {
    const i = this.indexOf(String(sub));
    if (i < 0) throw new Error(`substring not found: ${String(sub)}`);
    return i;
  },
  count(sub) { return String(sub) === '' ? this.length + 1 : this.split(String(sub)).length - 1; },
  isdigit() { return /^\d+$/.test(this); },
  isnumeric() { return /^\d+$/.test(this); },
  isalpha() { return /^[A-Za-z]+$/.test(this); },
  isalnum() { return /^[A-Za-z0-9]+$/.test(this); },
  isupper() { return this.toUpperCase() === this && this.toLowerCase() !== this; },
  islower() { return this.toLowerCase() === this && this.toUpperCase() !== this; },
  isspace() { return /^\s+$/.test(this); },
  zfill(width) { return this.padStart(Number(width), '0'); },
  ljust(width, fill) { return this.padEnd(Number(width), fill === undefined ? ' ' : String(fill)); },
  rjust(width, fill) { return this.padStart(Number(width), fill === undefined ? ' ' : String(fill)); },
  center(width) {
    const w = Number(width);
    const total = Math.max(0, w - this.length);
    const left = Math.floor(total / 2);
    return ' '.repeat(left) + this + ' '.repeat(total - left);
  },
  partition(sep) {
    const i = this.indexOf(String(sep));
    return i < 0 ? [this, '', ''] : [this.slice(0, i), String(sep), this.slice(i + String(sep).length)];
  },
  splitlines() { return this.split(/\r?\n/); },
  encode() { return this; },
  casefold() { return this.toLowerCase(); },
  swapcase() { return [...this].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''); },
  removeprefix(p) { return this.startsWith(String(p)) ? this.slice(String(p).length) : this; },
  removesuffix(p) { return this.endsWith(String(p)) && String(p) ? this.slice(0, -String(p).length) : this; },
};

/** Python truthiness: empty lists, dicts and strings, 0 and None are false (JS says `[]` is true). */
export function pyTruthy(v: unknown): boolean {
  if (!v) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof runtime.SafeString) return v.val.length > 0;
  if (v instanceof Map || v instanceof Set) return v.size > 0;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length > 0;
  return true;
}

/** `list + list` concatenates and `dict + …` is an error in Python; JS `+` would make "a,bc,d". */
function kilnAdd(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (a !== null && typeof a === 'object' && typeof (a as { __add__?: unknown }).__add__ === 'function') {
    return (a as { __add__(x: unknown): unknown }).__add__(b);
  }
  return (a as number) + (b as number);
}

function kilnSetAttr(obj: unknown, key: unknown, value: unknown): void {
  if (obj === null || typeof obj !== 'object') {
    throw new Error(`cannot set attribute '${String(key)}' on ${pyStr(obj)}; use namespace() for mutable values`);
  }
  (obj as Record<string, unknown>)[String(key)] = value;
}

let installed = false;

/** Install the process-wide Nunjucks patches. Idempotent. */
export function installJinjaSupport(): void {
  if (installed) return;
  installed = true;
  nunjucks.installJinjaCompat();

  const lookupAfterCompat = runtime.memberLookup;
  runtime.memberLookup = function memberLookup(this: unknown, obj: unknown, val: unknown, ...rest: unknown[]) {
    if (rest.length === 0) {
      const s = typeof obj === 'string' ? obj : obj instanceof runtime.SafeString ? obj.val : undefined;
      if (s !== undefined && typeof val === 'string' && Object.prototype.hasOwnProperty.call(STRING_METHODS, val)) {
        return (...args: unknown[]) => STRING_METHODS[val].apply(s, args);
      }
      // Class instances (query results, relations) keep their own methods: the dict-method emulation
      // (`values`, `items`, `get` …) is for plain mappings only.
      if (obj !== null && typeof obj === 'object' && !Array.isArray(obj) && Object.getPrototypeOf(obj) !== Object.prototype && Object.getPrototypeOf(obj) !== null) {
        const member = (obj as Record<string, unknown>)[val as string];
        if (typeof member === 'function') return (member as (...a: unknown[]) => unknown).bind(obj);
      }
    }
    return lookupAfterCompat.call(this, obj, val, ...rest);
  };

  const makeMacro = runtime.makeMacro;
  runtime.makeMacro = (argNames, kwargNames, func) =>
    makeMacro(argNames, kwargNames, function macroWithReturn(this: unknown, ...args: unknown[]) {
      try {
        return func.apply(this, args);
      } catch (e) {
        if (e instanceof MacroReturn) return e.value;
        throw e;
      }
    });

  runtime.kilnAdd = kilnAdd;
  runtime.kilnTruthy = pyTruthy;
  // Python's `or`/`and` return an operand, chosen by Python truthiness; the right side stays lazy.
  runtime.kilnOr = (a, b) => (pyTruthy(a) ? a : b());
  runtime.kilnAnd = (a, b) => (pyTruthy(a) ? b() : a);
  runtime.kilnSetAttr = kilnSetAttr;
  const proto = compilerModule.Compiler.prototype;
  proto.compileAdd = function compileAdd(node: unknown, frame: unknown) {
    const n = node as { left: unknown; right: unknown };
    this._emit('runtime.kilnAdd(');
    this.compile(n.left, frame);
    this._emit(', ');
    this.compile(n.right, frame);
    this._emit(')');
  };
  // Nunjucks puts a called expression's source text into the generated JS as a string for error messages,
  // escaping quotes but not newlines: `'multi\nline'.format(x)` (dbt_utils does this) broke compilation.
  const getNodeName = proto._getNodeName;
  proto._getNodeName = function nodeNameOnOneLine(node: unknown) {
    return String(getNodeName.call(this, node)).replace(/\\/g, '/').replace(/[\r\n\u2028\u2029]+/g, ' ');
  };
  // Jinja dict keys are expressions (`{key.lower(): v}`, `{name: v}` looks `name` up); Nunjucks allows only
  // string literals and takes a bare name as its own text. Non-literal keys become JS computed keys.
  const compilePair = proto.compilePair;
  proto.compilePair = function jinjaPair(node, frame) {
    if (node.key.typename === 'Literal' && typeof node.key.value === 'string') {
      compilePair.call(this, node, frame);
      return;
    }
    this._emit('[');
    this._compileExpression(node.key, frame);
    this._emit(']: ');
    this._compileExpression(node.value, frame);
  };
  // Conditions use Python truthiness: `{% if [] %}` is false in Jinja. KilnTruthy is a Not subclass so
  // the compiler's node-type checks accept it.
  const Truthy = nodes.Not.extend('KilnTruthy');
  const truthy = (cond: { lineno: number; colno: number; typename?: string }) =>
    cond.typename === 'KilnTruthy' ? cond : new Truthy(cond.lineno, cond.colno, cond);
  const ext = proto as unknown as Record<string, (this: CompilerProto, node: Record<string, never>, frame: unknown, ...rest: unknown[]) => void>;
  ext.compileKilnTruthy = function compileTruthy(node, frame) {
    this._emit('runtime.kilnTruthy(');
    this.compile(node.target, frame);
    this._emit(')');
  };
  ext.compileNot = function compileNot(node, frame) {
    this._emit('!runtime.kilnTruthy(');
    this.compile(node.target, frame);
    this._emit(')');
  };
  for (const [method, helper] of [['compileOr', 'kilnOr'], ['compileAnd', 'kilnAnd']] as const) {
    ext[method] = function lazyBoolOp(node, frame) {
      this._emit(`runtime.${helper}(`);
      this.compile(node.left, frame);
      this._emit(', () => (');
      this.compile(node.right, frame);
      this._emit('))');
    };
  }
  for (const method of ['compileIf', 'compileInlineIf'] as const) {
    const original = ext[method];
    ext[method] = function pythonCondition(node, frame, ...rest) {
      (node as unknown as { cond: unknown }).cond = truthy(node.cond as never);
      original.call(this, node, frame, ...rest);
    };
  }

  // Keyword arguments (`f(a=1)`) are Dict nodes too, but there the bare name is the parameter name.
  proto.compileKeywordArgs = function keywordArgs(node, frame) {
    this._emit('runtime.makeKeywordArgs({');
    node.children.forEach((pair, i) => {
      if (i > 0) this._emit(',');
      compilePair.call(this, pair, frame);
    });
    this._emit('})');
  };
  const compileSet = proto.compileSet;
  proto.compileSet = function patchedSet(node, frame) {
    const target = node.targets[0];
    if (node.targets.length === 1 && target.typename === 'LookupVal' && node.value) {
      this._emit('runtime.kilnSetAttr(');
      this._compileExpression(target.target, frame);
      this._emit(', ');
      this._compileExpression(target.val, frame);
      this._emit(', ');
      this._compileExpression(node.value, frame);
      this._emitLine(');');
      return;
    }
    compileSet.call(this, node, frame);
  };
}

/** `{% do expr %}`: evaluate and discard (list.append, dict.update …). */
export class DoExtension {
  tags = ['do'];
  parse(parser: NunjucksParser, nodes: NunjucksNodes): unknown {
    const tok = parser.nextToken();
    const expr = parser.parseExpression();
    parser.advanceAfterBlockEnd(tok.value);
    return new nodes.CallExtension(this, 'run', new nodes.NodeList(tok.lineno, tok.colno, [expr]), null);
  }
  run(): string {
    return '';
  }
}

interface NunjucksParser {
  nextToken(): { value: string; lineno: number; colno: number };
  parseExpression(): unknown;
  advanceAfterBlockEnd(name: string): void;
}
interface NunjucksNodes {
  CallExtension: new (ext: unknown, prop: string, args: unknown, contentArgs: unknown) => unknown;
  NodeList: new (lineno: number, colno: number, children: unknown[]) => unknown;
}

export { pyStr };
