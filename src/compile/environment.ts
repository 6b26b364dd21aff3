/**
 * The Nunjucks environment for one invocation: Jinja compatibility, the filters and tests dbt code uses,
 * and the context-free globals (tojson, fromyaml, namespace, modules …). Context-bound functions (ref,
 * config, this …) are supplied per node by the renderer.
 */
import nunjucks from 'nunjucks';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DoExtension, installJinja, isPlainMapping, pyEq, pyFormat, pyIn, pyPercent, pyRepr, pyStr, pyTruthy, splitArgs } from './jinja.js';
import { pythonModules } from './modules.js';
import { PLACEHOLDER_INSPECT } from './placeholders.js';
import { dbtTypeFilters } from '../project/yamlRender.js';

export type Env = nunjucks.Environment;

function attr(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function jsonString(s: string): string {
  // Python's json.dumps escapes everything outside ASCII (ensure_ascii=True).
  return `"${s.replace(/[\\"\u0000-\u001f\u007f-\uffff]/g, (c) => {
    switch (c) {
      case '"': return '\\"';
      case '\\': return '\\\\';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      case '\b': return '\\b';
      case '\f': return '\\f';
      default: return c === '\u007f' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  })}"`;
}

/** Python's json.dumps: `{"a": 1, "b": [1, 2]}` (", " and ": " separators), optional sort_keys and indent. */
export function pyJsonDumps(value: unknown, opts: { sortKeys?: boolean; indent?: number } = {}): string {
  const { sortKeys = false, indent } = opts;
  const dump = (v: unknown, depth: number): string => {
    if (v === null || v === undefined) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : String(v);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return jsonString(v);
    if (v instanceof nunjucks.runtime.SafeString) return jsonString(String(v));
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Date)) return dump((v as { toJSON(): unknown }).toJSON(), depth);
    let items: string[];
    let open: string;
    let close: string;
    if (Array.isArray(v)) {
      items = v.map((x) => dump(x, depth + 1));
      [open, close] = ['[', ']'];
    } else if (isPlainMapping(v)) {
      const entries = Object.entries(v);
      if (sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      items = entries.map(([k, x]) => `${jsonString(k)}: ${dump(x, depth + 1)}`);
      [open, close] = ['{', '}'];
    } else {
      return jsonString(pyStr(v));
    }
    if (!items.length) return open + close;
    if (indent === undefined) return open + items.join(', ') + close;
    const pad = (d: number) => '\n' + ' '.repeat(indent * d);
    return open + pad(depth + 1) + items.join(',' + pad(depth + 1)) + pad(depth) + close;
  };
  return dump(value, 0);
}

/** dbt's `tojson(value, default=None, sort_keys=False)` global: json.dumps. */
export function toJson(value: unknown, ...rest: unknown[]): string {
  const [pos, kw] = splitArgs(rest);
  const sortKeys = kw.sort_keys ?? pos[1];
  return pyJsonDumps(value, { sortKeys: pyTruthy(sortKeys) });
}

/** Python's len(): strings, lists, dicts, and objects that know their length (agate tables). */
function pyLen(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return [...v].length;
  if (v instanceof nunjucks.runtime.SafeString) return [...String(v)].length;
  if (v instanceof Map || v instanceof Set) return v.size;
  if (typeof (v as { length?: unknown }).length === 'number') return (v as { length: number }).length;
  if (typeof v === 'object') return Object.keys(v).length;
  return 0;
}

/** Values of an iterable the way Python iterates them: a dict gives its keys, a string its characters. */
function pyIter(v: unknown): unknown[] {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [...v];
  if (v instanceof nunjucks.runtime.SafeString) return [...String(v)];
  if (isPlainMapping(v)) return Object.keys(v);
  if (typeof v === 'object' && Symbol.iterator in v) return [...(v as Iterable<unknown>)];
  if (typeof v === 'object') return Object.keys(v);
  throw new Error(`'${typeof v}' object is not iterable`);
}

/** Jinja's sort/group key: strings compare case-insensitively unless case_sensitive. */
function sortKey(v: unknown, caseSensitive: boolean): unknown {
  return !caseSensitive && typeof v === 'string' ? v.toLowerCase() : v;
}

function compare(a: unknown, b: unknown): number {
  if (a === b || pyEq(a, b)) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as number) < (b as number) ? -1 : 1;
}

/** Jinja's namespace(): an attribute holder, not a dict (`ns.items` is an attribute, `ns is mapping` is false). */
export class Namespace {
  [key: string]: unknown;
  toString(): string {
    return `<Namespace ${pyRepr({ ...this })}>`;
  }
}

export function createEnvironment(): Env {
  installJinja();
  // dev: true keeps the original error as `cause` on template errors (see templateErrors.ts).
  const options = { autoescape: false, throwOnUndefined: false, trimBlocks: false, lstripBlocks: false, dev: true };
  const env = new nunjucks.Environment(null, options as nunjucks.ConfigureOptions);
  const addTest = (name: string, fn: (...args: never[]) => boolean) =>
    (env as unknown as { addTest(n: string, f: (...args: never[]) => boolean): void }).addTest(name, fn);
  env.addExtension('do', new DoExtension());

  const testOf = (name: string) => (env as unknown as { getTest(n: string): (...a: unknown[]) => boolean }).getTest(name);
  const applyTest = (value: unknown, test: unknown, arg: unknown): boolean => {
    if (test === undefined) return pyTruthy(value);
    const fn = testOf(String(test));
    return arg === undefined ? fn(value) : fn(value, arg);
  };

  const getFilter = (name: string) => (env as unknown as { getFilter(n: string): (...a: unknown[]) => unknown }).getFilter(name);
  // Jinja's tojson filter: sorted keys, and <, >, & and ' escaped so the output is safe in HTML (and SQL quotes).
  env.addFilter('tojson', (v: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const indent = (kw.indent ?? pos[0]) as number | undefined;
    return new nunjucks.runtime.SafeString(pyJsonDumps(v, { sortKeys: true, indent: indent ?? undefined })
      .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/'/g, '\\u0027'));
  });
  // Keyword arguments for Nunjucks' built-in filters, which take Jinja's parameters positionally.
  const positional: Record<string, string[]> = {
    indent: ['width', 'first', 'blank'],
    truncate: ['length', 'killwords', 'end', 'leeway'],
    round: ['precision', 'method'],
    default: ['default_value', 'boolean'],
    d: ['default_value', 'boolean'],
    replace: ['old', 'new', 'count'],
    int: ['default', 'base'],
    float: ['default'],
    batch: ['linecount', 'fill_with'],
    slice: ['slices', 'fill_with'],
    center: ['width'],
    urlize: ['trim_url_limit', 'nofollow', 'target'],
  };
  for (const [name, params] of Object.entries(positional)) {
    const builtin = getFilter(name);
    env.addFilter(name, function (this: unknown, value: unknown, ...rest: unknown[]) {
      const [pos, kw] = splitArgs(rest);
      if (!Object.keys(kw).length) return builtin.call(this, value, ...pos);
      const args = [...pos];
      params.forEach((p, i) => {
        if (p in kw) args[i] = kw[p];
      });
      return builtin.call(this, value, ...args);
    });
  }
  env.addFilter('length', pyLen);
  env.addFilter('count', pyLen);
  env.addFilter('list', (v: unknown) => [...pyIter(v)]);
  env.addFilter('string', (v: unknown) => (v instanceof nunjucks.runtime.SafeString ? v : pyStr(v)));
  env.addFilter('join', (v: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const sep = (kw.d ?? pos[0] ?? '') as string;
    const at = (kw.attribute ?? pos[1]) as string | undefined;
    const items = pyIter(v);
    return (at === undefined || at === null ? items : items.map((x) => attr(x, String(at)))).map(pyStr).join(pyStr(sep));
  });
  env.addFilter('sum', (v: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const at = (kw.attribute ?? pos[0]) as string | undefined;
    const start = (kw.start ?? pos[1] ?? 0) as number;
    const items = pyIter(v);
    return (at === undefined || at === null ? items : items.map((x) => attr(x, String(at)))).reduce((a: number, b) => a + (b as number), start);
  });
  env.addFilter('unique', (v: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const caseSensitive = pyTruthy(kw.case_sensitive ?? pos[0] ?? false);
    const at = (kw.attribute ?? pos[1]) as string | undefined;
    const seen: unknown[] = [];
    const out: unknown[] = [];
    for (const x of pyIter(v)) {
      const key = sortKey(at === undefined || at === null ? x : attr(x, String(at)), caseSensitive);
      if (!seen.some((s) => pyEq(s, key))) {
        seen.push(key);
        out.push(x);
      }
    }
    return out;
  });
  // groupby: (grouper, list) pairs sorted by the grouper, as Jinja returns them; `.grouper`/`.list` work too.
  env.addFilter('groupby', (v: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const at = String(kw.attribute ?? pos[0]);
    const dflt = kw.default ?? pos[1];
    const caseSensitive = pyTruthy(kw.case_sensitive ?? pos[2] ?? false);
    const keyOf = (x: unknown) => attr(x, at) ?? dflt;
    const items = [...pyIter(v)].sort((a, b) => compare(sortKey(keyOf(a), caseSensitive), sortKey(keyOf(b), caseSensitive)));
    const groups: (unknown[] & { grouper?: unknown; list?: unknown[] })[] = [];
    for (const x of items) {
      const last = groups[groups.length - 1];
      if (last && pyEq(sortKey(last[0], caseSensitive), sortKey(keyOf(x), caseSensitive))) (last[1] as unknown[]).push(x);
      else groups.push([keyOf(x), [x]]);
    }
    for (const g of groups) Object.defineProperties(g, { grouper: { value: g[0] }, list: { value: g[1] } });
    return groups;
  });
  env.addFilter('attr', (v: unknown, name: string) => (v === null || v === undefined ? undefined : (v as Record<string, unknown>)[name]));
  env.addFilter('trim', (v: unknown, chars?: unknown) => {
    const s = v === null || v === undefined ? '' : pyStr(v);
    if (chars === undefined || chars === null || typeof chars === 'object') return s.trim();
    const set = String(chars);
    let a = 0;
    let b = s.length;
    while (a < b && set.includes(s[a])) a++;
    while (b > a && set.includes(s[b - 1])) b--;
    return s.slice(a, b);
  });
  env.addFilter('map', (arr: unknown, ...rest: unknown[]) => {
    const [pos, kw] = splitArgs(rest);
    const items = Array.isArray(arr) ? arr : arr ? [...(arr as Iterable<unknown>)] : [];
    if (kw.attribute !== undefined) return items.map((x) => attr(x, String(kw.attribute)) ?? kw.default);
    const filter = (env as unknown as { getFilter(n: string): (...a: unknown[]) => unknown }).getFilter(String(pos[0]));
    return items.map((x) => filter(x, ...pos.slice(1)));
  });
  env.addFilter('selectattr', (arr: unknown[], name: string, test?: string, arg?: unknown) =>
    (arr ?? []).filter((x) => applyTest(attr(x, name), test, arg)));
  env.addFilter('rejectattr', (arr: unknown[], name: string, test?: string, arg?: unknown) =>
    (arr ?? []).filter((x) => !applyTest(attr(x, name), test, arg)));
  env.addFilter('select', (arr: unknown[], test?: string, arg?: unknown) => (arr ?? []).filter((x) => applyTest(x, test, arg)));
  env.addFilter('reject', (arr: unknown[], test?: string, arg?: unknown) => (arr ?? []).filter((x) => !applyTest(x, test, arg)));
  for (const [name, pick] of [['min', -1], ['max', 1]] as const) {
    env.addFilter(name, (v: unknown, ...rest: unknown[]) => {
      const [pos, kw] = splitArgs(rest);
      const caseSensitive = pyTruthy(kw.case_sensitive ?? pos[0] ?? false);
      const at = (kw.attribute ?? pos[1]) as string | undefined;
      const keyOf = (x: unknown) => sortKey(at === undefined || at === null ? x : attr(x, String(at)), caseSensitive);
      const items = pyIter(v);
      return items.length ? items.reduce((a, b) => (compare(keyOf(b), keyOf(a)) === pick ? b : a)) : undefined;
    });
  }
  // Jinja's format filter is Python's `%` (with a dict for keyword arguments); `{}` fields are accepted too.
  env.addFilter('format', (fmt: unknown, ...args: unknown[]) => {
    const text = pyStr(fmt);
    const [pos, kw] = splitArgs(args);
    if (!/%/.test(text) && text.includes('{')) return pyFormat(text, args);
    return pyPercent(text, Object.keys(kw).length ? kw : pos);
  });
  for (const [name, filter] of Object.entries(dbtTypeFilters)) env.addFilter(name, filter);
  env.addFilter('as_text', (v: unknown) => pyStr(v));
  env.addFilter('pprint', (v: unknown) => pyRepr(v));
  env.addFilter('bool', (v: unknown) => (typeof v === 'string' ? ['true', '1', 'yes', 'on'].includes(v.toLowerCase()) : !!v));
  env.addFilter('items', (v: Record<string, unknown>) => Object.entries(v ?? {}));

  const isMapping = isPlainMapping;
  const isSafe = (v: unknown) => v instanceof nunjucks.runtime.SafeString;
  addTest('none', (v: unknown) => v === null || v === undefined);
  addTest('None', (v: unknown) => v === null || v === undefined);
  addTest('null', (v: unknown) => v === null || v === undefined);
  addTest('true', (v: unknown) => v === true);
  addTest('false', (v: unknown) => v === false);
  addTest('boolean', (v: unknown) => typeof v === 'boolean');
  addTest('integer', (v: unknown) => Number.isInteger(v));
  addTest('float', (v: unknown) => typeof v === 'number' && !Number.isInteger(v));
  addTest('sequence', (v: unknown) => Array.isArray(v) || typeof v === 'string' || isSafe(v) || isMapping(v));
  // dbt's relations are Mappings (packages test `obj is mapping and obj.get('metadata', …)`), so besides
  // dicts, objects with a get() method count; lists, strings, namespace() and query results do not.
  addTest('mapping', (v: unknown) =>
    isMapping(v) || (v !== null && typeof v === 'object' && !Array.isArray(v) && !isSafe(v) && !(v instanceof Namespace)
      && (Object.getPrototypeOf(v) === Object.prototype || typeof (v as { get?: unknown }).get === 'function')));
  // Macro output is a SafeString (Markup in Jinja), which is a str.
  addTest('string', (v: unknown) => typeof v === 'string' || isSafe(v));
  addTest('iterable', (v: unknown) =>
    typeof v === 'string' || isSafe(v) || Array.isArray(v) || isMapping(v) || (v !== null && typeof v === 'object' && Symbol.iterator in v));
  addTest('in', (v: unknown, container: unknown) => pyIn(v, container));
  for (const name of ['==', 'eq', 'equalto']) addTest(name, (a: unknown, b: unknown) => pyEq(a, b));
  for (const name of ['!=', 'ne']) addTest(name, (a: unknown, b: unknown) => !pyEq(a, b));
  for (const [names, ok] of [[['<', 'lt', 'lessthan'], (c: number) => c < 0], [['<=', 'le'], (c: number) => c <= 0],
    [['>', 'gt', 'greaterthan'], (c: number) => c > 0], [['>=', 'ge'], (c: number) => c >= 0]] as const) {
    for (const name of names) addTest(name, (a: unknown, b: unknown) => ok(compare(a, b)));
  }

  const globals: Record<string, unknown> = {
    True: true,
    False: false,
    None: null,
    tojson: toJson,
    fromjson: (s: string, fallback: unknown = null) => {
      try {
        return JSON.parse(s);
      } catch {
        return fallback;
      }
    },
    // PyYAML's safe_dump layout: block style, list items not indented under their key.
    toyaml: (v: unknown, ...rest: unknown[]) => {
      const [pos, kw] = splitArgs(rest);
      return stringifyYaml(v, { indentSeq: false, sortMapEntries: pyTruthy(kw.sort_keys ?? pos[1]) });
    },
    fromyaml: (s: string, fallback: unknown = null) => {
      try {
        return parseYaml(s);
      } catch {
        return fallback;
      }
    },
    namespace: (...args: unknown[]) => {
      const [pos, kw] = splitArgs(args);
      return Object.assign(new Namespace(), ...(pos.filter((p) => p && typeof p === 'object') as object[]), kw);
    },
    dict: (...args: unknown[]) => {
      const [pos, kw] = splitArgs(args);
      return Object.assign({}, ...(pos.filter((p) => p && typeof p === 'object') as object[]), kw);
    },
    list: (v: unknown) => (v === undefined ? [] : Array.isArray(v) ? [...v] : typeof v === 'string' ? [...v] : [...Object.keys(v as object)]),
    zip: (...arrs: unknown[][]) => {
      const n = Math.min(...arrs.map((a) => a.length));
      return Array.from({ length: n }, (_, i) => arrs.map((a) => a[i]));
    },
    modules: pythonModules,
    set: (v: unknown[] = []) => [...new Set(v)],
    len: pyLen,
  };
  for (const [k, v] of Object.entries(globals)) env.addGlobal(k, v);
  // A filter applied to a parse-time relation placeholder needs the real name: render again at execute time.
  // Jinja's string filters stringify their input (`ref('a') | replace('"', '')` works on the name).
  const stringFilters = new Set(['replace', 'upper', 'lower', 'trim', 'capitalize', 'title', 'truncate', 'wordcount', 'center', 'indent', 'striptags', 'urlencode']);
  const hasOwnToString = (v: object) => !Array.isArray(v) && (v as { toString: unknown }).toString !== Object.prototype.toString;
  const filters = (env as unknown as { filters: Record<string, (...args: unknown[]) => unknown> }).filters;
  for (const [name, filter] of Object.entries(filters)) {
    const stringly = stringFilters.has(name);
    filters[name] = function placeholderAware(this: unknown, value: unknown, ...rest: unknown[]) {
      if (value !== null && typeof value === 'object') {
        if (PLACEHOLDER_INSPECT in value) (value as { [PLACEHOLDER_INSPECT]: () => void })[PLACEHOLDER_INSPECT]();
        if (stringly && !(value instanceof nunjucks.runtime.SafeString) && hasOwnToString(value)) value = String(value);
      }
      return filter.call(this, value, ...rest);
    };
  }
  return env;
}
