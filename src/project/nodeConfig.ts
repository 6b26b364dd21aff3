/**
 * Node configs: the known keys, how levels merge, and the folder-scoped config tree of the project file
 * (`models: {shop: {staging: {+materialized: view}}}`), with dbt's precedence:
 * config() in the file > schema YAML > project tree > defaults.
 */
import type { SourceLocation } from '../errors.js';
import { closeMatches } from '../suggest.js';
import type { Diagnostics } from './diagnostics.js';
import { isPlainObject, type YamlFile, type YamlPath } from './yamlFile.js';

export type NodeConfig = Record<string, unknown>;

/** Configs dbt and its adapters define; anything else is a custom config (allowed, but typos are flagged). */
export const KNOWN_CONFIGS = new Set([
  'enabled', 'tags', 'pre-hook', 'post-hook', 'database', 'schema', 'alias', 'persist_docs', 'full_refresh',
  'meta', 'materialized', 'unique_key', 'incremental_strategy', 'on_schema_change', 'sql_header', 'docs',
  'contract', 'constraints', 'grants', 'packages', 'access', 'group', 'quoting', 'column_types', 'quote_columns',
  'delimiter', 'event_time', 'batch_size', 'begin', 'lookback', 'concurrent_batches', 'partition_by', 'cluster_by',
  'sort', 'sort_type', 'dist', 'bind', 'backup', 'indexes', 'transient', 'copy_grants', 'secure', 'query_tag',
  'snowflake_warehouse', 'automatic_clustering', 'labels', 'merge_update_columns', 'merge_exclude_columns',
  'incremental_predicates', 'on_configuration_change', 'unlogged', 'file_format', 'location_root', 'severity',
  'store_failures', 'store_failures_as', 'where', 'limit', 'error_if', 'warn_if', 'fail_calc', 'strategy',
  'updated_at', 'check_cols', 'target_schema', 'target_database', 'invalidate_hard_deletes', 'hard_deletes',
  'snapshot_meta_column_names', 'dbt_valid_to_current', 'require_partition_filter', 'partition_expiration_days',
  'kms_key_name', 'description', 'loaded_at_field', 'freshness', 'identifier', 'external', 'batch', 'on_error',
  'plugin', 'options', 'format', 'location', 'catalog', 'file_format', 'table_type', 'deprecation_date', 'version',
  'latest_version', 'predicates', 'dynamic', 'target_lag', 'snowflake_warehouse', 'refresh_interval',
  'max_staleness', 'enable_refresh', 'hours_to_expiration', 'policy_tags', 'time_ingestion_partitioning',
]);

/** Configs whose value is a mapping (so a mapping value in the tree is a config, not a folder). */
const DICT_CONFIGS = new Set(['persist_docs', 'meta', 'docs', 'contract', 'grants', 'quoting', 'column_types',
  'partition_by', 'labels', 'snapshot_meta_column_names', 'freshness', 'external', 'options', 'indexes']);
/** Lists that accumulate from every level instead of the innermost winning. */
const APPEND_CONFIGS = new Set(['tags', 'pre-hook', 'post-hook']);
/** Mappings that merge key by key from every level. */
const UPDATE_CONFIGS = new Set(['meta', 'quoting', 'column_types', 'docs', 'persist_docs', 'grants']);

/** dbt accepts `pre_hook`/`post_hook` (Python keyword form) as well as `pre-hook`/`post-hook`. */
export function normalizeConfigKey(key: string): string {
  const k = key.startsWith('+') ? key.slice(1) : key;
  if (k === 'pre_hook') return 'pre-hook';
  if (k === 'post_hook') return 'post-hook';
  return k;
}

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Merge `more` over `base` with dbt's per-key rules. Returns a new object. */
export function mergeConfig(base: NodeConfig, more: NodeConfig): NodeConfig {
  const out: NodeConfig = { ...base };
  for (const [rawKey, value] of Object.entries(more)) {
    const key = normalizeConfigKey(rawKey);
    if (APPEND_CONFIGS.has(key)) {
      const merged = [...asList(out[key]), ...asList(value)];
      out[key] = key === 'tags' ? [...new Set(merged.map(String))] : merged;
    } else if (UPDATE_CONFIGS.has(key) && isPlainObject(out[key]) && isPlainObject(value)) {
      out[key] = { ...(out[key] as object), ...value };
    } else {
      out[key] = value;
    }
  }
  return out;
}

/**
 * One object for equal configs: 30,000 tests have a handful of distinct base
 * configs, and a shared object is hashed once by the parse cache and copied once to the parse worker.
 * Interned configs are never changed (mergeConfig makes new ones).
 */
export function configInterner(): (config: NodeConfig) => NodeConfig {
  const known = new Map<string, NodeConfig>();
  return (config) => {
    // JSON leaves undefined out; such a config stays its own (a replacer would slow every call threefold).
    for (const key in config) if (config[key] === undefined) return config;
    const json = JSON.stringify(config);
    const found = known.get(json);
    if (found) return found;
    known.set(json, config);
    return config;
  };
}

/** Warn when a config key looks like a misspelling of a known one (`materialised`, `+tag`). */
export function checkConfigKey(key: string, diags: Diagnostics, location: SourceLocation): void {
  const k = normalizeConfigKey(key);
  if (KNOWN_CONFIGS.has(k)) return;
  const close = closeMatches(k, KNOWN_CONFIGS, 2).filter((c) => c.length > 3 && Math.abs(c.length - k.length) <= 3);
  if (close.length) {
    diags.warn(`config '${k}' is not a known config; it is kept as a custom config`, location,
      `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?`);
  }
}

/**
 * A resource-type section of the project file (`models:`, `seeds:` …): configs at each folder level.
 * `resolve(fqn)` returns the merged configs along the path; unused paths are reported afterwards.
 */
export class ConfigTree {
  private readonly used = new Set<string>();

  constructor(
    private readonly tree: Record<string, unknown>,
    private readonly yaml: YamlFile | undefined,
    private readonly basePath: YamlPath,
  ) {}

  static isConfigKey(key: string, value: unknown): boolean {
    if (key.startsWith('+')) return true;
    const k = normalizeConfigKey(key);
    if (!KNOWN_CONFIGS.has(k)) return !isPlainObject(value);
    return !isPlainObject(value) || DICT_CONFIGS.has(k);
  }

  /** Configs from the tree for a node whose fqn is [project, ...folders, name]. */
  resolve(fqn: readonly string[]): NodeConfig {
    let config: NodeConfig = {};
    let level: Record<string, unknown> | undefined = this.tree;
    const path: string[] = [];
    for (let i = 0; level; i++) {
      config = mergeConfig(config, configsAt(level));
      if (i >= fqn.length) break;
      const next: unknown = level[fqn[i]];
      if (!isPlainObject(next) || ConfigTree.isConfigKey(fqn[i], next)) break;
      path.push(fqn[i]);
      this.used.add(path.join('\0'));
      level = next;
    }
    return config;
  }

  /** Warn about folder paths in the tree that matched no node (usually a typo in a folder name). */
  reportUnused(diags: Diagnostics, section: string): void {
    const walk = (level: Record<string, unknown>, path: string[]) => {
      for (const [key, value] of Object.entries(level)) {
        if (ConfigTree.isConfigKey(key, value)) {
          if (this.yaml) checkConfigKey(key, diags, this.yaml.locate([...this.basePath, ...path, key], true));
          continue;
        }
        const here = [...path, key];
        if (!this.used.has(here.join('\0'))) {
          diags.warn(
            `configuration path '${section}.${here.join('.')}' does not apply to any resource`,
            this.yaml?.locate([...this.basePath, ...here], true),
            'Check the folder or model name under this key; it must match a directory under the model paths.',
          );
          continue;
        }
        walk(value as Record<string, unknown>, here);
      }
    };
    walk(this.tree, []);
  }
}

function configsAt(level: Record<string, unknown>): NodeConfig {
  const out: NodeConfig = {};
  for (const [key, value] of Object.entries(level)) {
    if (ConfigTree.isConfigKey(key, value)) out[normalizeConfigKey(key)] = value;
  }
  return out;
}
