/**
 * Jinja compatibility for Nunjucks, installed once per process: what dbt projects write that plain Nunjucks
 * does not understand. Python string methods (`'a'.upper()`), `list + list`, `{% set ns.x = … %}`,
 * `{{ return(x) }}` inside macros, `{% do %}`, and the Jinja tests and filters dbt code uses.
 */
import { createRequire } from 'node:module';
import nunjucks from 'nunjucks';
import { PyDatetime, PyTimedelta } from './modules.js';

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

let macroDepth = 0;

/** True while a macro body runs (return() outside one is a user error, not a value to print). */
export function insideMacro(): boolean {
  return macroDepth > 0;
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

/** Python's `str()`: None/True/False, lists and dicts as their repr, datetimes as Python prints them. */
function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return pyNumber(v);
  if (v instanceof runtime.SafeString) return v.val;
  if (Array.isArray(v) || isPlainMapping(v)) return pyRepr(v);
  if (v instanceof Date) return pyDateString(v);
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
    // Python: runs of whitespace separate; after maxsplit splits the rest is kept as written.
    const out: string[] = [];
    let rest = s.replace(/^\s+/, '');
    while (rest !== '' && out.length < max) {
      const m = /\s+/.exec(rest);
      if (!m) break;
      out.push(rest.slice(0, m.index));
      rest = rest.slice(m.index + m[0].length);
    }
    if (max === Infinity || out.length < max) rest = rest.replace(/\s+$/, '');
    if (rest !== '') out.push(rest);
    return out;
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
  // Python: every run of letters starts upper-case ('order_id' → 'Order_Id', '1st' → '1St').
  title() { return this.replace(/\p{L}+/gu, (w) => w[0].toUpperCase() + w.slice(1).toLowerCase()); },
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
  if (a instanceof Date) a = new PyDatetime(a);
  if (b instanceof Date) b = new PyDatetime(b);
  if (a instanceof PyTimedelta && b instanceof PyDatetime) return b.__add__(a);
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
/** Every process-wide Nunjucks patch, in order. YAML rendering needs them too, before any environment exists. */
export function installJinja(): void {
  installJinjaSupport();
  installPythonSemantics();
}

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
      macroDepth++;
      try {
        return func.apply(this, args);
      } catch (e) {
        if (e instanceof MacroReturn) return e.value;
        throw e;
      } finally {
        macroDepth--;
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

// ---------------------------------------------------------------------------------------------------------
// Python value semantics: how values print, compare and combine, as Jinja (and so dbt) does it.
// ---------------------------------------------------------------------------------------------------------

type AnyFn = (...args: unknown[]) => unknown;

/** A dict in the Python sense: a plain object, not a class instance or an object that prints itself. */
export function isPlainMapping(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto === null) return !('toString' in v);
  return proto === Object.prototype && (v as { toString: unknown }).toString === Object.prototype.toString;
}

function pyNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n);
}

function pyDateString(d: Date): string {
  return `${new PyDatetime(d).isoformat(' ')}+00:00`;
}

/** Python's repr() of a string: single quotes unless the text has one and no double quote. */
function reprString(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === q) out += `\\${q}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return q + out + q;
}

/** Python's repr(): `['a', 1, None]`, `{'k': True}`. Tuples are JS arrays, so they print as lists. */
export function pyRepr(v: unknown): string {
  if (typeof v === 'string') return reprString(v);
  if (v instanceof runtime.SafeString) return reprString(v.val);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isPlainMapping(v)) return `{${Object.entries(v).map(([k, x]) => `${reprString(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return pyStr(v);
}

/** What `~` and `{{ }}` make of a value: Python's str(), with undefined as the empty string. */
function outputStr(v: unknown): string {
  return v === undefined ? '' : pyStr(v);
}

function strOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : v instanceof runtime.SafeString ? v.val : undefined;
}

/** Python `==`: no type coercion ('1' != 1), element-wise for lists and dicts. None and undefined match. */
export function pyEq(a: unknown, b: unknown): boolean {
  const sa = strOf(a);
  const sb = strOf(b);
  if (sa !== undefined || sb !== undefined) return sa === sb;
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return (a === null || a === undefined) && (b === null || b === undefined);
  const na = typeof a === 'number' || typeof a === 'boolean';
  const nb = typeof b === 'number' || typeof b === 'boolean';
  if (na || nb) return na && nb && Number(a) === Number(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEq(x, b[i]));
  }
  if (isPlainMapping(a) && isPlainMapping(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && pyEq(a[k], b[k]));
  }
  const ta = a instanceof PyDatetime ? a.jsDate.getTime() : a instanceof Date ? a.getTime() : undefined;
  const tb = b instanceof PyDatetime ? b.jsDate.getTime() : b instanceof Date ? b.getTime() : undefined;
  if (ta !== undefined && tb !== undefined) return ta === tb;
  if (a instanceof PyTimedelta && b instanceof PyTimedelta) return a.ms === b.ms;
  return false;
}

/** Python `in`: substring for strings, equality for list items, keys for dicts; nothing is in an undefined. */
export function pyIn(key: unknown, container: unknown): boolean {
  if (container === undefined) return false;
  if (container === null) throw new Error("argument of type 'NoneType' is not iterable");
  const s = strOf(container);
  if (s !== undefined) return s.includes(outputStr(key));
  if (Array.isArray(container)) return container.some((x) => pyEq(x, key));
  if (container instanceof Set || container instanceof Map) return container.has(key);
  if (isPlainMapping(container)) return Object.prototype.hasOwnProperty.call(container, String(key));
  if (typeof container === 'object' && Symbol.iterator in container) return [...(container as Iterable<unknown>)].some((x) => pyEq(x, key));
  if (typeof container === 'object') return String(key) in container;
  throw new Error(`argument of type '${typeof container}' is not iterable`);
}

/** Python's `fmt % args`: %s %r %d %i %f %e %g %x %o %c with flags, width and precision; %(name)s from a dict. */
export function pyPercent(fmt: string, arg: unknown): string {
  const args = Array.isArray(arg) ? arg : [arg];
  let i = 0;
  const next = (): unknown => {
    if (i >= args.length) throw new Error('not enough arguments for format string');
    return args[i++];
  };
  let usedNames = false;
  const out = fmt.replace(/%(?:\(([^)]*)\))?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcrsa%])/g,
    (_m, name: string | undefined, flags: string, width: string | undefined, prec: string | undefined, conv: string) => {
      if (conv === '%') return '%';
      const w = width === '*' ? Number(next()) : width ? Number(width) : 0;
      const p = prec === '*' ? Number(next()) : prec !== undefined ? Number(prec) : undefined;
      let v: unknown;
      if (name !== undefined) {
        usedNames = true;
        if (!isPlainMapping(arg)) throw new Error('format requires a mapping');
        if (!(name in arg)) throw new Error(`KeyError: '${name}'`);
        v = arg[name];
      } else {
        v = next();
      }
      let body: string;
      let numeric = false;
      let negative = false;
      const num = (): number => {
        const n = typeof v === 'boolean' ? Number(v) : typeof v === 'number' ? v : typeof v === 'string' && conv === 'c' ? NaN : NaN;
        if (Number.isNaN(n) && !(typeof v === 'number')) throw new Error(`%${conv} format: a real number is required, not ${typeof v === 'string' ? 'str' : pyStr(v)}`);
        numeric = true;
        negative = n < 0;
        return Math.abs(n);
      };
      switch (conv) {
        case 's': body = pyStr(v); if (p !== undefined) body = body.slice(0, p); break;
        case 'r': case 'a': body = pyRepr(v); if (p !== undefined) body = body.slice(0, p); break;
        case 'd': case 'i': case 'u': body = String(Math.trunc(num())); break;
        case 'f': case 'F': body = num().toFixed(p ?? 6); break;
        case 'e': case 'E': {
          body = num().toExponential(p ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
          if (conv === 'E') body = body.toUpperCase();
          break;
        }
        case 'g': case 'G': {
          const n = num();
          body = n === 0 ? '0' : String(Number(n.toPrecision(p === 0 ? 1 : p ?? 6)));
          if (conv === 'G') body = body.toUpperCase();
          break;
        }
        case 'x': case 'X': case 'o': {
          body = Math.trunc(num()).toString(conv === 'o' ? 8 : 16);
          if (flags.includes('#')) body = (conv === 'o' ? '0o' : '0x') + body;
          if (conv === 'X') body = body.toUpperCase();
          break;
        }
        case 'c': body = typeof v === 'number' ? String.fromCodePoint(v) : pyStr(v); break;
        default: body = pyStr(v);
      }
      let sign = '';
      if (numeric) sign = negative ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
      const len = sign.length + body.length;
      if (len >= w) return sign + body;
      if (flags.includes('-')) return sign + body + ' '.repeat(w - len);
      if (flags.includes('0') && numeric) return sign + '0'.repeat(w - len) + body;
      return ' '.repeat(w - len) + sign + body;
    });
  if (Array.isArray(arg) && !usedNames && i < args.length) throw new Error('not all arguments converted during string formatting');
  return out;
}

function kilnConcat(a: unknown, b: unknown): string {
  return outputStr(a) + outputStr(b);
}

/** `'-' * 3`, `[0] * 2` repeat as in Python. */
function kilnMul(a: unknown, b: unknown): unknown {
  const times = (n: unknown) => (typeof n === 'number' ? Math.max(0, Math.trunc(n)) : typeof n === 'boolean' ? Number(n) : undefined);
  const sa = strOf(a);
  const sb = strOf(b);
  if (sa !== undefined && times(b) !== undefined) return sa.repeat(times(b)!);
  if (sb !== undefined && times(a) !== undefined) return sb.repeat(times(a)!);
  if (Array.isArray(a) && times(b) !== undefined) return Array.from({ length: times(b)! }, () => a).flat();
  if (Array.isArray(b) && times(a) !== undefined) return Array.from({ length: times(a)! }, () => b).flat();
  return (a as number) * (b as number);
}

/** `'%s' % x` formats; numbers take the divisor's sign (-7 % 3 == 2). */
function kilnMod(a: unknown, b: unknown): unknown {
  const s = strOf(a);
  if (s !== undefined) return pyPercent(s, b);
  const x = Number(a);
  const y = Number(b);
  if (y === 0) throw new Error('integer division or modulo by zero');
  const r = x % y;
  return r !== 0 && r < 0 !== y < 0 ? r + y : r;
}

function kilnSub(a: unknown, b: unknown): unknown {
  if (a instanceof Date) a = new PyDatetime(a);
  if (b instanceof Date) b = new PyDatetime(b);
  if (a !== null && typeof a === 'object' && typeof (a as { __sub__?: unknown }).__sub__ === 'function') {
    return (a as { __sub__(x: unknown): unknown }).__sub__(b);
  }
  return (a as number) - (b as number);
}

/** `{% set a, b = pair %}` unpacks like Python, and says so when the count is wrong. */
function kilnUnpack(value: unknown, n: number): unknown[] {
  const s = strOf(value);
  const items = s !== undefined ? [...s] : Array.isArray(value) ? value : isPlainMapping(value) ? Object.keys(value)
    : value !== null && typeof value === 'object' && Symbol.iterator in value ? [...(value as Iterable<unknown>)] : undefined;
  if (!items) throw new Error(`cannot unpack non-iterable ${pyStr(value)}`);
  if (items.length !== n) {
    throw new Error(items.length > n ? `too many values to unpack (expected ${n})` : `not enough values to unpack (expected ${n}, got ${items.length})`);
  }
  return items;
}

/** Python slicing `seq[start:stop:step]` for lists and strings (a string slice is a string). */
function pySlice(obj: unknown, start: unknown, stop: unknown, step: unknown): unknown {
  const s = strOf(obj);
  const seq: unknown[] = s !== undefined ? [...s] : Array.isArray(obj) ? obj : obj === null || obj === undefined ? [] : [...(obj as Iterable<unknown>)];
  const n = seq.length;
  const st = step === null || step === undefined ? 1 : Number(step);
  if (st === 0) throw new Error('slice step cannot be zero');
  const norm = (v: unknown, dflt: number, lo: number, hi: number) => {
    if (v === null || v === undefined) return dflt;
    let x = Math.trunc(Number(v));
    if (x < 0) x += n;
    return Math.min(Math.max(x, lo), hi);
  };
  const out: unknown[] = [];
  if (st > 0) {
    const a = norm(start, 0, 0, n);
    const b = norm(stop, n, 0, n);
    for (let i = a; i < b; i += st) out.push(seq[i]);
  } else {
    const a = norm(start, n - 1, -1, n - 1);
    const b = norm(stop, -1, -1, n - 1);
    for (let i = a; i > b; i += st) out.push(seq[i]);
  }
  return s !== undefined ? out.join('') : out;
}

/** list methods Python has and the Nunjucks emulation lacks or gets wrong (pop returned a list). */
const LIST_METHODS: Record<string, (this: unknown[], ...args: unknown[]) => unknown> = {
  append(x) { this.push(x); return null; },
  extend(items) { this.push(...(Array.isArray(items) ? items : strOf(items) !== undefined ? [...strOf(items)!] : [...(items as Iterable<unknown>)])); return null; },
  insert(i, x) { this.splice(Number(i) < 0 ? Math.max(0, this.length + Number(i)) : Number(i), 0, x); return null; },
  pop(i) {
    if (!this.length) throw new Error('pop from empty list');
    if (i === undefined) return this.pop();
    const at = Number(i) < 0 ? this.length + Number(i) : Number(i);
    if (at < 0 || at >= this.length) throw new Error('pop index out of range');
    return this.splice(at, 1)[0];
  },
  remove(x) {
    const at = this.findIndex((y) => pyEq(y, x));
    if (at < 0) throw new Error('list.remove(x): x not in list');
    this.splice(at, 1);
    return null;
  },
  index(x) {
    const at = this.findIndex((y) => pyEq(y, x));
    if (at < 0) throw new Error(`${pyRepr(x)} is not in list`);
    return at;
  },
  count(x) { return this.filter((y) => pyEq(y, x)).length; },
  reverse() { this.reverse(); return null; },
  copy() { return [...this]; },
  clear() { this.length = 0; return null; },
};

/** dict methods whose Nunjucks emulation differs from Python: get() without a default gives None. */
const DICT_METHODS: Record<string, (this: Record<string, unknown>, ...args: unknown[]) => unknown> = {
  get(key, dflt = null) {
    return Object.prototype.hasOwnProperty.call(this, String(key)) ? this[String(key)] : dflt;
  },
  update(...args) {
    const [pos, kw] = splitArgs(args);
    for (const p of pos) {
      if (Array.isArray(p)) for (const [k, v] of p as [unknown, unknown][]) this[String(k)] = v;
      else if (p && typeof p === 'object') Object.assign(this, p);
    }
    Object.assign(this, kw);
    return null;
  },
  copy() { return { ...this }; },
  clear() { for (const k of Object.keys(this)) delete this[k]; return null; },
};

const lexerModule = require('nunjucks/src/lexer') as Record<string, string> & { lex(src: string): object };
const parserModule = require('nunjucks/src/parser') as { Parser: { prototype: ParserProto } };

interface Token { type: string; value: string; lineno: number; colno: number }
interface ParserProto {
  peekToken(): Token | null;
  nextToken(): Token | null;
  skip(type: string): boolean;
  skipSymbol(name: string): boolean;
  skipValue(type: string, value: string): boolean;
  fail(msg: string, lineno?: number, colno?: number): never;
  parseStatement(): unknown;
  parseSet(): unknown;
  parseIs(): unknown;
  parseCompare(): unknown;
  parsePrimary(noPostfix?: boolean): unknown;
  parseExpression(): unknown;
  parseSignature(tolerant?: boolean, noParens?: boolean): unknown;
  parseUntilBlocks(...names: string[]): unknown;
  advanceAfterBlockEnd(name?: string): void;
}
interface AstNode { typename: string; lineno: number; colno: number; [k: string]: unknown }
type NodeCtor = new (lineno: number, colno: number, ...fields: unknown[]) => AstNode;

let pythonInstalled = false;

/**
 * Python semantics Nunjucks lacks, installed after installJinjaSupport (whose patches these wrap): output and
 * `~` use Python's str() (`None`, `True`, `['a', 'b']`); `==`, `in`, `*`, `%` and `-` behave as in Python;
 * tuples are lists; negative indexes and slices work on lists and strings; `'\d'` keeps its backslash;
 * `{% set a, b = … %}` unpacks; `x is divisibleby 3` takes a bare argument; an unclosed block names its line.
 */
export function installPythonSemantics(): void {
  if (pythonInstalled) return;
  pythonInstalled = true;
  const rt = runtime as unknown as Record<string, AnyFn>;
  const allNodes = (nunjucks as unknown as { nodes: Record<string, NodeCtor> }).nodes;

  const suppressValue = rt.suppressValue;
  rt.suppressValue = (val, autoescape) =>
    suppressValue(typeof val === 'string' || val instanceof runtime.SafeString || val === undefined ? val : pyStr(val), autoescape);
  rt.inOperator = (key, container) => pyIn(key, container);
  // `{% for k in some_dict %}` iterates the keys, as in Python (Nunjucks made no iterations).
  const fromIterator = rt.fromIterator;
  rt.fromIterator = (v) => (isPlainMapping(v) ? Object.keys(v) : v instanceof runtime.SafeString ? v.val : fromIterator(v));
  rt.kilnConcat = kilnConcat;
  rt.kilnMul = kilnMul;
  rt.kilnMod = kilnMod;
  rt.kilnSub = kilnSub;
  rt.kilnEq = pyEq;
  rt.kilnUnpack = kilnUnpack as AnyFn;

  const lookup = runtime.memberLookup;
  runtime.memberLookup = function pythonLookup(this: unknown, obj: unknown, val: unknown, ...rest: unknown[]) {
    if (rest.length === 2) return pySlice(obj, val, rest[0], rest[1]);
    if (rest.length === 0) {
      if (obj instanceof Date) obj = new PyDatetime(obj);
      if (typeof val === 'number' && val < 0) {
        const s = strOf(obj);
        if (s !== undefined) return s[s.length + val];
        if (Array.isArray(obj)) return obj[obj.length + val];
      }
      if (typeof val === 'string') {
        if (Array.isArray(obj) && Object.prototype.hasOwnProperty.call(LIST_METHODS, val)) return LIST_METHODS[val].bind(obj);
        if (isPlainMapping(obj) && Object.prototype.hasOwnProperty.call(DICT_METHODS, val)) return DICT_METHODS[val].bind(obj);
        if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
          const member = (obj as Record<string, unknown>)[val];
          // A member that is itself a namespace-carrying function (`modules.datetime.datetime.now`).
          if (typeof member === 'function' && Object.keys(member).length > 0) {
            return Object.assign((...args: unknown[]) => (member as AnyFn).apply(obj, args), member);
          }
          // Objects that are not dicts (namespace(), relations, agate rows' owners) keep their own attributes:
          // `ns.items` is the attribute, not the dict method Nunjucks' emulation would hand out.
          if (!isPlainMapping(obj) && val in obj && typeof member !== 'function' && member !== undefined) return member;
        }
      }
    }
    return lookup.call(this, obj, val, ...rest);
  };

  // Python string literals: '\d' stays a backslash and a d (regexes in dbt code), '\x41' and '\u00e9' decode.
  const tokenizer = Object.getPrototypeOf(lexerModule.lex('')) as { _parseString(delim: string): string };
  tokenizer._parseString = function parsePythonString(this: { str: string; index: number; forward(): void; current(): string; isFinished(): boolean }, delimiter: string) {
    this.forward();
    let str = '';
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '\n': '' };
    while (!this.isFinished() && this.current() !== delimiter) {
      const cur = this.current();
      if (cur !== '\\') {
        str += cur;
        this.forward();
        continue;
      }
      this.forward();
      const c = this.current();
      const hexLen = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
      const hex = hexLen ? this.str.slice(this.index + 1, this.index + 1 + hexLen) : '';
      const octal = /^[0-7]{1,3}/.exec(this.str.slice(this.index, this.index + 3))?.[0];
      if (Object.prototype.hasOwnProperty.call(simple, c)) {
        str += simple[c];
      } else if (hexLen && new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) {
        str += String.fromCodePoint(parseInt(hex, 16));
        for (let k = 0; k < hexLen; k++) this.forward();
      } else if (octal) {
        str += String.fromCodePoint(parseInt(octal, 8));
        for (let k = 1; k < octal.length; k++) this.forward();
      } else {
        str += `\\${c}`;
      }
      this.forward();
    }
    this.forward();
    return str;
  };

  const P = parserModule.Parser.prototype;
  const T = lexerModule;

  // An unclosed {% if %} / {% for %} / {% macro %} fails at end of file, where Nunjucks has no line: use the tag's.
  const parseStatement = P.parseStatement;
  P.parseStatement = function statementWithLine(this: ParserProto) {
    const tok = this.peekToken();
    try {
      return parseStatement.call(this);
    } catch (e) {
      const err = e as { lineno?: number; colno?: number; message?: string; kilnBlockNoted?: boolean };
      // `{% endmacro %}` while a `{% for %}` is open: say which block is unclosed (the innermost one).
      if (tok && err && typeof err.message === 'string' && !err.kilnBlockNoted && /unknown block tag: end\w+/.test(err.message)
        && typeof tok.lineno === 'number' && err.lineno !== undefined && err.lineno !== tok.lineno + 1) {
        err.kilnBlockNoted = true;
        err.message += ` (the '{% ${tok.value} %}' block opened at line ${tok.lineno + 1} is not closed)`;
      }
      if (tok && err && typeof err === 'object' && err.lineno === undefined && typeof tok.lineno === 'number') {
        err.lineno = tok.lineno + 1;
        err.colno = tok.colno + 1;
        if (typeof err.message === 'string' && /end of file/.test(err.message)) {
          err.message += ` (the '{% ${tok.value} %}' block that starts here is never closed)`;
        }
      }
      throw e;
    }
  };

  // `{% set x = 1, 2 %}` makes a tuple, as in Python.
  P.parseSet = function parseSetWithTuple(this: ParserProto) {
    const tag = this.peekToken()!;
    if (!this.skipSymbol('set')) this.fail('parseSet: expected set', tag.lineno, tag.colno);
    const node = new allNodes.Set(tag.lineno, tag.colno, []) as AstNode & { targets: unknown[]; value: unknown; body?: unknown };
    let target: unknown;
    while ((target = this.parsePrimary())) {
      node.targets.push(target);
      if (!this.skip(T.TOKEN_COMMA)) break;
    }
    if (!this.skipValue(T.TOKEN_OPERATOR, '=')) {
      if (!this.skip(T.TOKEN_BLOCK_END)) this.fail('parseSet: expected = or block end in set tag', tag.lineno, tag.colno);
      node.body = new allNodes.Capture(tag.lineno, tag.colno, this.parseUntilBlocks('endset'));
      node.value = null;
      this.advanceAfterBlockEnd();
      return node;
    }
    let value = this.parseExpression();
    if (this.skip(T.TOKEN_COMMA)) {
      const items = [value];
      while (this.peekToken() && this.peekToken()!.type !== T.TOKEN_BLOCK_END) {
        items.push(this.parseExpression());
        if (!this.skip(T.TOKEN_COMMA)) break;
      }
      value = new allNodes.Array(tag.lineno, tag.colno, items);
    }
    node.value = value;
    this.advanceAfterBlockEnd(tag.value);
    return node;
  };

  // Trailing commas (`['a', 'b',]`, multi-line lists) and one-element tuples `('a',)`, which Nunjucks rejects.
  // Nunjucks' own parse runs first (it also handles slices); on failure the tolerant parse retries from the
  // same position.
  type Stream = { index: number; lineno: number; colno: number; in_code: boolean };
  const parseAggregate = (P as unknown as { parseAggregate(): unknown }).parseAggregate;
  const closers = new Set([T.TOKEN_RIGHT_PAREN, T.TOKEN_RIGHT_BRACKET, T.TOKEN_RIGHT_CURLY]);
  function tolerantAggregate(this: ParserProto): unknown {
    const tok = this.nextToken()!;
    const Kind = tok.type === T.TOKEN_LEFT_PAREN ? allNodes.Group : tok.type === T.TOKEN_LEFT_BRACKET ? allNodes.Array
      : tok.type === T.TOKEN_LEFT_CURLY ? allNodes.Dict : undefined;
    if (!Kind) return null;
    const node = new Kind(tok.lineno, tok.colno) as AstNode & { children: unknown[]; addChild(c: unknown): void; kilnTuple?: boolean };
    let trailingComma = false;
    for (;;) {
      if (closers.has(this.peekToken()!.type)) {
        this.nextToken();
        break;
      }
      if (node.children.length > 0) {
        if (!this.skip(T.TOKEN_COMMA)) this.fail('parseAggregate: expected comma after expression', tok.lineno, tok.colno);
        if (closers.has(this.peekToken()!.type)) {
          this.nextToken();
          trailingComma = true;
          break;
        }
      }
      if (tok.type === T.TOKEN_LEFT_CURLY) {
        // Jinja dict keys are any expression: {'a' | upper: 1}, {prefix ~ name: 1}.
        const key = this.parseExpression() as AstNode;
        if (!this.skip(T.TOKEN_COLON)) this.fail('parseAggregate: expected colon after dict key', tok.lineno, tok.colno);
        node.addChild(new allNodes.Pair(key.lineno, key.colno, key, this.parseExpression()));
      } else {
        node.addChild(this.parseExpression());
      }
    }
    if (tok.type === T.TOKEN_LEFT_PAREN && trailingComma && node.children.length === 1) node.kilnTuple = true;
    return node;
  }
  (P as unknown as { parseAggregate(): unknown }).parseAggregate = function aggregateWithTrailingComma(this: ParserProto & { tokens: Stream; peeked: unknown }) {
    const stream = this.tokens;
    const saved = { index: stream.index, lineno: stream.lineno, colno: stream.colno, in_code: stream.in_code, peeked: this.peeked };
    try {
      return parseAggregate.call(this);
    } catch (e) {
      Object.assign(stream, { index: saved.index, lineno: saved.lineno, colno: saved.colno, in_code: saved.in_code });
      this.peeked = saved.peeked;
      try {
        return tolerantAggregate.call(this);
      } catch {
        throw e;
      }
    }
  };

  // Call arguments may end with a comma, as in Python (`config(materialized='table',)`, dbt_date's macros).
  P.parseSignature = function signatureWithTrailingComma(this: ParserProto, tolerant?: boolean, noParens?: boolean) {
    let tok = this.peekToken()!;
    if (!noParens && tok.type !== T.TOKEN_LEFT_PAREN) {
      if (tolerant) return null;
      this.fail('expected arguments', tok.lineno, tok.colno);
    }
    if (tok.type === T.TOKEN_LEFT_PAREN) tok = this.nextToken()!;
    const args = new allNodes.NodeList(tok.lineno, tok.colno) as AstNode & { children: unknown[]; addChild(c: unknown): void };
    const kwargs = new allNodes.KeywordArgs(tok.lineno, tok.colno) as AstNode & { children: unknown[]; addChild(c: unknown): void };
    const atEnd = (t: Token) => (!noParens && t.type === T.TOKEN_RIGHT_PAREN) || (!!noParens && t.type === T.TOKEN_BLOCK_END);
    let first = true;
    for (;;) {
      tok = this.peekToken()!;
      if (atEnd(tok)) {
        if (!noParens) this.nextToken();
        break;
      }
      if (!first) {
        if (!this.skip(T.TOKEN_COMMA)) this.fail('parseSignature: expected comma after expression', tok.lineno, tok.colno);
        const next = this.peekToken()!;
        if (atEnd(next)) {
          if (!noParens) this.nextToken();
          break;
        }
      }
      const arg = this.parseExpression() as AstNode;
      if (this.skipValue(T.TOKEN_OPERATOR, '=')) kwargs.addChild(new allNodes.Pair(arg.lineno, arg.colno, arg, this.parseExpression()));
      else args.addChild(arg);
      first = false;
    }
    if (kwargs.children.length) args.addChild(kwargs);
    return args;
  };

  // `{% for x in xs if cond %}`: Jinja filters the items first, so loop.index/first/last count only the kept
  // ones. Nunjucks read `xs if cond` as an inline if (silently looping over nothing). It becomes:
  //   {% set tmp = [] %}{% for x in xs %}{% if cond %}{{ tmp.append(x) }}{% endif %}{% endfor %}
  //   {% for x in tmp %}…{% endfor %}
  let loopFilterCount = 0;
  const parseFor = (P as unknown as { parseFor(): unknown }).parseFor;
  (P as unknown as { parseFor(): unknown }).parseFor = function forWithFilter(this: ParserProto & { parseOr(): unknown; parseFor(): unknown }) {
    const forTok = this.peekToken()!;
    if (forTok.value !== 'for') return parseFor.call(this);
    this.nextToken();
    const N = allNodes as Record<string, NodeCtor>;
    const node = new N.For(forTok.lineno, forTok.colno) as AstNode & { name: AstNode; arr: unknown; body: unknown; else_: unknown };
    node.name = this.parsePrimary() as AstNode;
    if (node.name.typename !== 'Symbol') this.fail('parseFor: variable name expected for loop');
    if (this.peekToken()!.type === T.TOKEN_COMMA) {
      const names = new N.Array(node.name.lineno, node.name.colno) as AstNode & { addChild(c: unknown): void };
      names.addChild(node.name);
      while (this.skip(T.TOKEN_COMMA)) names.addChild(this.parsePrimary());
      node.name = names;
    }
    if (!this.skipSymbol('in')) this.fail('parseFor: expected "in" keyword for loop', forTok.lineno, forTok.colno);
    const arr = this.parseOr();
    const cond = this.skipSymbol('if') ? this.parseExpression() : undefined;
    this.advanceAfterBlockEnd(forTok.value);
    node.body = this.parseUntilBlocks('endfor', 'else');
    if (this.skipSymbol('else')) {
      this.advanceAfterBlockEnd('else');
      node.else_ = this.parseUntilBlocks('endfor');
    }
    this.advanceAfterBlockEnd();
    if (!cond) {
      node.arr = arr;
      return node;
    }
    const { lineno, colno } = forTok;
    const tmp = () => new N.Symbol(lineno, colno, `__kiln_loop_filter_${loopFilterCount}`);
    loopFilterCount++;
    const item = node.name.typename === 'Symbol' ? new N.Symbol(lineno, colno, (node.name as unknown as { value: string }).value) : node.name;
    const append = new N.FunCall(lineno, colno, new N.LookupVal(lineno, colno, tmp(), new N.Literal(lineno, colno, 'append')),
      new N.NodeList(lineno, colno, [item]));
    const collect = new N.For(lineno, colno) as AstNode & { name: unknown; arr: unknown; body: unknown };
    collect.name = node.name;
    collect.arr = arr;
    // `'' if tmp.append(x) else ''`: evaluates the append and prints nothing (append returns None).
    const silent = new N.InlineIf(lineno, colno, append, new N.Literal(lineno, colno, ''), new N.Literal(lineno, colno, ''));
    collect.body = new N.NodeList(lineno, colno, [new N.If(lineno, colno, cond, new N.NodeList(lineno, colno, [new N.Output(lineno, colno, [silent])]), null)]);
    node.arr = tmp();
    const init = new N.Set(lineno, colno, [tmp()], new N.Array(lineno, colno, []));
    return new N.NodeList(lineno, colno, [init, collect, node]);
  };

  // `a if x else b if y else c`: the else branch may itself be an inline if (Nunjucks stops after one).
  (P as unknown as { parseInlineIf(): unknown }).parseInlineIf = function chainedInlineIf(this: ParserProto & { parseOr(): unknown; parseInlineIf(): unknown }) {
    let node = this.parseOr() as AstNode;
    if (this.skipSymbol('if')) {
      const cond = this.parseOr();
      const body = node;
      const inline = new allNodes.InlineIf(node.lineno, node.colno) as AstNode & { body: unknown; cond: unknown; else_: unknown };
      inline.body = body;
      inline.cond = cond;
      inline.else_ = this.skipSymbol('else') ? this.parseInlineIf() : null;
      node = inline;
    }
    return node;
  };

  // `x is divisibleby 3`, `x is sameas false`, `x is in ['a']`: a test takes one argument without parentheses.
  const bareArgStarts = new Set([T.TOKEN_STRING, T.TOKEN_INT, T.TOKEN_FLOAT, T.TOKEN_BOOLEAN, T.TOKEN_NONE, T.TOKEN_LEFT_BRACKET, T.TOKEN_LEFT_CURLY, T.TOKEN_SYMBOL]);
  const notAnArgument = new Set(['and', 'or', 'else', 'if', 'is', 'not', 'in']);
  P.parseIs = function parseIsWithBareArg(this: ParserProto) {
    let node = this.parseCompare() as AstNode;
    if (!this.skipSymbol('is')) return node;
    const not = this.skipSymbol('not');
    const tok = this.peekToken();
    let test: AstNode;
    if (tok && tok.type === T.TOKEN_SYMBOL) {
      this.nextToken();
      test = new allNodes.Symbol(tok.lineno, tok.colno, tok.value);
      const next = this.peekToken();
      if (next && next.type === T.TOKEN_LEFT_PAREN) {
        test = new allNodes.FunCall(tok.lineno, tok.colno, test, this.parseSignature());
      } else if (next && bareArgStarts.has(next.type) && !(next.type === T.TOKEN_SYMBOL && notAnArgument.has(next.value))) {
        const arg = this.parsePrimary();
        test = new allNodes.FunCall(tok.lineno, tok.colno, test, new allNodes.NodeList(tok.lineno, tok.colno, [arg]));
      }
    } else {
      test = this.parseCompare() as AstNode;
    }
    node = new allNodes.Is(node.lineno, node.colno, node, test);
    return not ? new allNodes.Not(node.lineno, node.colno, node) : node;
  };

  const C = compilerModule.Compiler.prototype as unknown as Record<string, (this: CompilerProto & { _tmpid(): string; _compileAggregate(n: unknown, f: unknown, a: string, b: string): void }, node: AstNode, frame: unknown) => void>;
  const binary = (helper: string) => function pythonBinOp(this: CompilerProto, node: AstNode, frame: unknown) {
    this._emit(`runtime.${helper}(`);
    this.compile(node.left, frame);
    this._emit(', ');
    this.compile(node.right, frame);
    this._emit(')');
  };
  C.compileConcat = binary('kilnConcat');
  C.compileMul = binary('kilnMul');
  C.compileMod = binary('kilnMod');
  C.compileSub = binary('kilnSub');

  // `==`/`!=` without JS coercion; `a < b < c` chains as in Python.
  C.compileCompare = function pythonCompare(node, frame) {
    const ops = node.ops as { type: string; expr: unknown }[];
    const pair = (left: unknown, op: { type: string; expr: unknown }) => {
      if (op.type === '==' || op.type === '!=') {
        this._emit(op.type === '!=' ? '!runtime.kilnEq(' : 'runtime.kilnEq(');
        this.compile(left, frame);
        this._emit(', ');
        this.compile(op.expr, frame);
        this._emit(')');
      } else {
        this._emit('(');
        this.compile(left, frame);
        this._emit(` ${op.type} `);
        this.compile(op.expr, frame);
        this._emit(')');
      }
    };
    this._emit('(');
    ops.forEach((op, i) => {
      if (i > 0) this._emit(' && ');
      pair(i === 0 ? node.expr : ops[i - 1].expr, op);
    });
    this._emit(')');
  };

  // `('a', 'b')` is a tuple; Nunjucks emitted a JS comma expression, i.e. just 'b'.
  const compileGroup = C.compileGroup;
  C.compileGroup = function tupleGroup(node, frame) {
    if ((node.children as unknown[]).length > 1 || node.kilnTuple) this._compileAggregate(node, frame, '[', ']');
    else compileGroup.call(this, node, frame);
  };

  // A `{% set %}` inside a loop body stays in the loop, as in Jinja (that is what namespace() is for);
  // Nunjucks wrote through to the variable outside the loop.
  const compileFor = C.compileFor;
  C.compileFor = function scopedFor(node, frame) {
    // Each iteration gets a fresh frame whose writes stay in it: the loop frame is pushed with
    // isolateWrites, and replaced at the top of every iteration. Nested loops handle their own lines.
    const self = this as unknown as { _emitLine(code: string): void; kilnForDepth?: number };
    const depth = (self.kilnForDepth ?? 0) + 1;
    const hadOwn = Object.prototype.hasOwnProperty.call(self, '_emitLine');
    const emitLine = self._emitLine;
    let pushed = false;
    self.kilnForDepth = depth;
    self._emitLine = function scopedLoopLine(this: unknown, code: string) {
      if (self.kilnForDepth === depth) {
        if (!pushed && code === 'frame = frame.push();') {
          pushed = true;
          code = 'frame = frame.push(true);';
        } else if (/^for\(.*\{$/.test(code)) {
          emitLine.call(this, code);
          code = 'frame = frame.pop().push(true);';
        }
      }
      emitLine.call(this, code);
    };
    try {
      compileFor.call(this, node, frame);
    } finally {
      self.kilnForDepth = depth - 1;
      if (hadOwn) self._emitLine = emitLine;
      else delete (self as { _emitLine?: unknown })._emitLine;
    }
  };

  // `{% set a, b = pair %}` unpacks (Nunjucks gave both names the whole value).
  const compileSet = C.compileSet;
  C.compileSet = function unpackingSet(node, frame) {
    const targets = node.targets as AstNode[];
    if (targets.length > 1 && node.value) {
      const tmp = this._tmpid();
      this._emit(`var ${tmp} = runtime.kilnUnpack(`);
      this._compileExpression(node.value, frame);
      this._emitLine(`, ${targets.length});`);
      targets.forEach((t, i) => {
        const element = new allNodes.Literal(node.lineno, node.colno, { toString: () => `${tmp}[${i}]` });
        compileSet.call(this, new allNodes.Set(node.lineno, node.colno, [t], element), frame);
      });
      return;
    }
    compileSet.call(this, node, frame);
  };
}
