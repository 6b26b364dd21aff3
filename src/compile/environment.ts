/**
 * The Nunjucks environment for one invocation: Jinja compatibility, the filters and tests dbt code uses,
 * and the context-free globals (tojson, fromyaml, namespace, modules …). Context-bound functions (ref,
 * config, this …) are supplied per node by the renderer.
 */
import nunjucks from 'nunjucks';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DoExtension, installJinjaSupport, pyFormat, pyStr, splitArgs } from './jinja.js';
import { pythonModules } from './modules.js';

export type Env = nunjucks.Environment;

function attr(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function toJson(value: unknown, ...rest: unknown[]): string {
  const [pos, kw] = splitArgs(rest);
  const sortKeys = kw.sort_keys ?? pos[0];
  const replacer = (_k: string, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (sortKeys && v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b)));
    }
    return v;
  };
  return JSON.stringify(value, replacer) ?? 'null';
}

export function createEnvironment(): Env {
  installJinjaSupport();
  // dev: true keeps the original error as `cause` on template errors (see templateErrors.ts).
  const options = { autoescape: false, throwOnUndefined: false, trimBlocks: false, lstripBlocks: false, dev: true };
  const env = new nunjucks.Environment(null, options as nunjucks.ConfigureOptions);
  const addTest = (name: string, fn: (...args: never[]) => boolean) =>
    (env as unknown as { addTest(n: string, f: (...args: never[]) => boolean): void }).addTest(name, fn);
  env.addExtension('do', new DoExtension());

  const testOf = (name: string) => (env as unknown as { getTest(n: string): (...a: unknown[]) => boolean }).getTest(name);
  const applyTest = (value: unknown, test: unknown, arg: unknown): boolean => {
    if (test === undefined) return !!value;
    const fn = testOf(String(test));
    return arg === undefined ? fn(value) : fn(value, arg);
  };

  env.addFilter('tojson', (v: unknown, ...rest: unknown[]) => toJson(v, ...rest));
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
  env.addFilter('unique', (arr: unknown[]) => [...new Set(arr ?? [])]);
  env.addFilter('min', (arr: number[]) => (arr && arr.length ? arr.reduce((a, b) => (b < a ? b : a)) : undefined));
  env.addFilter('max', (arr: number[]) => (arr && arr.length ? arr.reduce((a, b) => (b > a ? b : a)) : undefined));
  env.addFilter('count', (v: unknown[]) => (v ? (v as { length?: number }).length ?? Object.keys(v).length : 0));
  env.addFilter('format', (fmt: string, ...args: unknown[]) => {
    let i = 0;
    if (fmt.includes('{')) return pyFormat(fmt, args);
    return String(fmt).replace(/%[sdifr%]/g, (m) => (m === '%%' ? '%' : pyStr(args[i++])));
  });
  env.addFilter('as_bool', (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() === 'true' : !!v));
  env.addFilter('as_number', (v: unknown) => Number(v));
  env.addFilter('as_text', (v: unknown) => pyStr(v));
  env.addFilter('as_native', (v: unknown) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  });
  env.addFilter('bool', (v: unknown) => (typeof v === 'string' ? ['true', '1', 'yes', 'on'].includes(v.toLowerCase()) : !!v));
  env.addFilter('items', (v: Record<string, unknown>) => Object.entries(v ?? {}));
  env.addFilter('pprint', (v: unknown) => JSON.stringify(v, null, 2));

  const isMapping = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  addTest('none', (v: unknown) => v === null || v === undefined);
  addTest('None', (v: unknown) => v === null || v === undefined);
  addTest('null', (v: unknown) => v === null || v === undefined);
  addTest('true', (v: unknown) => v === true);
  addTest('false', (v: unknown) => v === false);
  addTest('boolean', (v: unknown) => typeof v === 'boolean');
  addTest('integer', (v: unknown) => Number.isInteger(v));
  addTest('float', (v: unknown) => typeof v === 'number' && !Number.isInteger(v));
  addTest('sequence', (v: unknown) => Array.isArray(v) || typeof v === 'string');
  addTest('mapping', isMapping);
  addTest('in', (v: unknown, container: unknown) =>
    Array.isArray(container) || typeof container === 'string'
      ? (container as unknown[]).includes(v as never)
      : isMapping(container) && String(v) in (container as object));

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
    toyaml: (v: unknown) => stringifyYaml(v),
    fromyaml: (s: string, fallback: unknown = null) => {
      try {
        return parseYaml(s);
      } catch {
        return fallback;
      }
    },
    namespace: (...args: unknown[]) => {
      const [pos, kw] = splitArgs(args);
      return Object.assign({}, ...(pos.filter((p) => p && typeof p === 'object') as object[]), kw);
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
    len: (v: unknown) => (v ? (v as { length?: number }).length ?? Object.keys(v).length : 0),
  };
  for (const [k, v] of Object.entries(globals)) env.addGlobal(k, v);
  return env;
}
