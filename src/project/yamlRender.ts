/**
 * Jinja in YAML values: dbt renders `{{ env_var('X', 'd') }}` and `{{ var('x') }}` inside profiles.yml,
 * the project file and schema YAML. Strings without `{{`/`{%` are returned untouched (the fast path).
 */
import nunjucks from 'nunjucks';
import { KilnError, type SourceLocation } from '../errors.js';
import { isPlainObject } from './yamlFile.js';
import { readEnv } from './envReads.js';

export interface YamlRenderContext {
  env_var: (name: string, fallback?: unknown) => unknown;
  var?: (name: string, fallback?: unknown) => unknown;
  target?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * dbt's type filters, common in profiles (`port: "{{ env_var('PORT') | as_number }}"`); the model
 * environment adds them too, with Python-style text for as_text.
 */
export const dbtTypeFilters = {
  as_bool: (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() === 'true' : !!v),
  as_number: (v: unknown) => Number(v),
  as_text: (v: unknown) => (v === null || v === undefined ? '' : String(v)),
  as_native: (v: unknown) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  },
};

const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false });
for (const [name, filter] of Object.entries(dbtTypeFilters)) env.addFilter(name, filter);

/** A value whose text is exactly one `{{ expr }}` keeps the expression's type after rendering (YAML-parsed). */
export function renderYamlString(text: string, ctx: YamlRenderContext, location: SourceLocation): unknown {
  if (!text.includes('{{') && !text.includes('{%')) return text;
  let out: string;
  try {
    out = env.renderString(text, ctx);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(e.kind, e.message, { location, hint: e.hint });
    const msg = (e as Error).message
      .replace(/^\(unknown path\)\s*/, '')
      .replace(/\[Line \d+, Column \d+\]\s*/, '')
      .replace(/\s+/g, ' ')
      .replace(/^(Template render )?Error: /, '')
      .trim();
    throw new KilnError('config', `could not render '${text}': ${msg}`, { location });
  }
  // dbt parses rendered values that look like numbers/booleans back into them (e.g. port: "{{ env_var('P') }}").
  if (/^-?\d+$/.test(out.trim())) return Number(out.trim());
  if (out.trim() === 'True' || out.trim() === 'true') return true;
  if (out.trim() === 'False' || out.trim() === 'false') return false;
  return out;
}

/**
 * Render every string inside `value`, skipping keys in `skipKeys` (hooks and descriptions render later, with
 * the full model context). `locate` maps a path to its position for errors.
 */
export function renderYamlTree(
  value: unknown,
  ctx: YamlRenderContext,
  locate: (path: (string | number)[]) => SourceLocation,
  skipKeys: ReadonlySet<string> = new Set(),
  path: (string | number)[] = [],
): unknown {
  // Located only when there is something to render (finding a position walks the YAML document).
  if (typeof value === 'string') return value.includes('{{') || value.includes('{%') ? renderYamlString(value, ctx, locate(path)) : value;
  if (Array.isArray(value)) return value.map((v, i) => renderYamlTree(v, ctx, locate, skipKeys, [...path, i]));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = skipKeys.has(k) ? v : renderYamlTree(v, ctx, locate, skipKeys, [...path, k]);
    }
    return out;
  }
  return value;
}

/** `env_var(name, default)` with dbt's semantics: missing without a default is an error. */
export function makeEnvVar(env: NodeJS.ProcessEnv = process.env): (name: string, fallback?: unknown) => unknown {
  return (name: string, fallback?: unknown) => {
    const v = readEnv(env, name);
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    throw new KilnError('config', `environment variable '${name}' is not set and env_var() was given no default`, {
      hint: `Set ${name} in the environment, or pass a default: env_var('${name}', 'value').`,
    });
  };
}
