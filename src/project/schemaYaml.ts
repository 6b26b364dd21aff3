/**
 * Schema YAML (`models/**.yml`): model, seed and snapshot properties, and source definitions. Unknown keys are
 * warnings with file:line (typos such as `descripton` silently drop docs in dbt); wrong types are errors.
 */
import { KilnError, type SourceLocation } from '../errors.js';
import { Diagnostics, expectType, stringList } from './diagnostics.js';
import { checkConfigKey, normalizeConfigKey, type NodeConfig } from './nodeConfig.js';
import { renderYamlTree, type YamlRenderContext } from './yamlRender.js';
import { isPlainObject, type YamlFile, type YamlPath } from './yamlFile.js';

export interface ColumnSpec {
  name: string;
  description: string;
  dataType?: string;
  meta: Record<string, unknown>;
  quote?: boolean;
  constraints: unknown[];
  /** Tests as written (`not_null`, `{accepted_values: {...}}`), compiled into nodes by the test loader. */
  tests: unknown[];
  /** Where each of `tests` is written (same order). */
  testLocations: SourceLocation[];
  tags: string[];
  /** Where the column's entry is written. */
  location?: SourceLocation;
}

/** Properties of a model, seed, snapshot or analysis declared in YAML. */
export interface NodePatch {
  resourceType: 'models' | 'seeds' | 'snapshots' | 'analyses';
  name: string;
  description: string;
  config: NodeConfig;
  columns: ColumnSpec[];
  tests: unknown[];
  testLocations: SourceLocation[];
  meta: Record<string, unknown>;
  docs: Record<string, unknown>;
  constraints: unknown[];
  location: SourceLocation;
  /** Path of the YAML file relative to the project dir. */
  file: string;
  /** Everything else written under the entry (versions, access …), kept for later features. */
  extra: Record<string, unknown>;
}

export interface SourceTableSpec {
  /** Package whose YAML defines it (set by the loader). */
  packageName: string;
  /** Folders of the YAML file under its resource path (set by the loader); part of the fqn, as in dbt. */
  folders: string[];
  sourceName: string;
  name: string;
  database?: string;
  schema: string;
  identifier: string;
  description: string;
  sourceDescription: string;
  loader: string;
  loadedAtField?: string;
  quoting: Record<string, unknown>;
  freshness?: unknown;
  columns: ColumnSpec[];
  tests: unknown[];
  testLocations: SourceLocation[];
  meta: Record<string, unknown>;
  tags: string[];
  config: NodeConfig;
  location: SourceLocation;
  file: string;
}

export interface SchemaFileContents {
  patches: NodePatch[];
  sources: SourceTableSpec[];
  /** unit_tests:, exposures:, macros: … kept as written for later features. */
  other: Record<string, unknown>;
}

const TOP_KEYS = ['version', 'models', 'sources', 'seeds', 'snapshots', 'analyses', 'macros', 'exposures', 'metrics',
  'semantic_models', 'saved_queries', 'groups', 'unit_tests', 'data_tests', 'tests', 'functions'];
const NODE_KEYS = ['name', 'description', 'config', 'columns', 'tests', 'data_tests', 'docs', 'meta', 'access', 'group',
  'latest_version', 'versions', 'constraints', 'deprecation_date', 'tags', 'time_spine', 'relation'];
const COLUMN_KEYS = ['name', 'description', 'data_type', 'tests', 'data_tests', 'meta', 'quote', 'constraints', 'tags',
  'policy_tags', 'granularity', 'config', 'docs'];
const SOURCE_KEYS = ['name', 'description', 'database', 'catalog', 'project', 'schema', 'dataset', 'loader', 'loaded_at_field',
  'loaded_at_query', 'tables', 'quoting', 'freshness', 'meta', 'tags', 'config', 'overrides', 'event_time'];
const SOURCE_TABLE_KEYS = ['name', 'description', 'identifier', 'loaded_at_field', 'loaded_at_query', 'quoting', 'freshness',
  'columns', 'tests', 'data_tests', 'meta', 'tags', 'config', 'external', 'loader', 'docs', 'event_time'];
/** Keys rendered later with the full model context (descriptions may use doc(); tests render at test time). */
const RENDER_LATER = new Set(['description', 'tests', 'data_tests', 'pre-hook', 'post-hook', '+pre-hook', '+post-hook', 'pre_hook', 'post_hook', 'unit_tests',
  // The semantic layer's filters ({{ Dimension('…') }}) are MetricFlow templates, never rendered as Jinja.
  'metrics', 'semantic_models', 'saved_queries', 'exposures', 'groups', 'macros']);

export function loadSchemaFile(yaml: YamlFile, diags: Diagnostics, ctx: YamlRenderContext): SchemaFileContents {
  const out: SchemaFileContents = { patches: [], sources: [], other: {} };
  if (yaml.data === null || (isPlainObject(yaml.data) && Object.keys(yaml.data).length === 0)) return out;
  if (!isPlainObject(yaml.data)) {
    throw new KilnError('config', 'a schema YAML file must be a mapping with keys like models: and sources:', {
      location: yaml.locate([]),
    });
  }
  const raw = yaml.data;
  diags.unknownKeys(yaml, [], raw, TOP_KEYS, 'a schema file');
  const data = renderYamlTree(raw, ctx, (p) => yaml.locate(p), RENDER_LATER) as Record<string, unknown>;
  for (const key of ['models', 'sources', 'seeds', 'snapshots', 'analyses']) {
    expectType(yaml, [key], data[key], ['list']);
  }
  for (const section of ['models', 'seeds', 'snapshots', 'analyses'] as const) {
    const entries = (data[section] as unknown[]) ?? [];
    entries.forEach((entry, i) => out.patches.push(loadPatch(yaml, diags, section, entry, [section, i])));
  }
  ((data.sources as unknown[]) ?? []).forEach((src, i) => out.sources.push(...loadSource(yaml, diags, src, ['sources', i])));
  for (const key of Object.keys(data)) {
    if (!['version', 'models', 'sources', 'seeds', 'snapshots', 'analyses'].includes(key)) out.other[key] = data[key];
  }
  return out;
}

function requireName(yaml: YamlFile, entry: unknown, path: YamlPath, what: string): Record<string, unknown> & { name: string } {
  if (!isPlainObject(entry)) {
    throw new KilnError('config', `each entry under ${what} must be a mapping with a 'name'`, { location: yaml.locate(path) });
  }
  if (typeof entry.name !== 'string' || !entry.name) {
    throw new KilnError('config', `an entry under ${what} has no 'name'`, {
      location: yaml.locate(path),
      hint: 'Add `name:` with the model, seed or source name this entry describes.',
    });
  }
  return entry as Record<string, unknown> & { name: string };
}

function loadConfigBlock(yaml: YamlFile, diags: Diagnostics, value: unknown, path: YamlPath): NodeConfig {
  expectType(yaml, path, value, ['mapping'], 'config');
  const config: NodeConfig = {};
  for (const [k, v] of Object.entries((value as Record<string, unknown>) ?? {})) {
    checkConfigKey(k, diags, yaml.locate([...path, k], true));
    config[normalizeConfigKey(k)] = v;
  }
  validateCommonConfig(yaml, path, config);
  return config;
}

/** Type checks for the configs whose type dbt enforces. */
export function validateCommonConfig(yaml: YamlFile, path: YamlPath, config: NodeConfig): void {
  const t = (key: string, types: Parameters<typeof expectType>[3]) => expectType(yaml, [...path, key], config[key], types);
  t('enabled', ['boolean']);
  t('materialized', ['string']);
  t('schema', ['string']);
  t('database', ['string']);
  t('alias', ['string']);
  t('tags', ['string', 'list']);
  t('meta', ['mapping']);
  t('full_refresh', ['boolean']);
  t('pre-hook', ['string', 'list']);
  t('post-hook', ['string', 'list']);
  t('column_types', ['mapping']);
  t('quote_columns', ['boolean']);
  t('delimiter', ['string']);
}

/** `data_tests:` then `tests:` (dbt's newer and older keys) of one entry, with where each is written. */
function testsOf(yaml: YamlFile, entry: Record<string, unknown>, path: YamlPath): { tests: unknown[]; testLocations: SourceLocation[] } {
  const tests: unknown[] = [];
  const testLocations: SourceLocation[] = [];
  for (const key of ['data_tests', 'tests']) {
    const list = entry[key];
    if (!Array.isArray(list)) continue;
    list.forEach((t, i) => {
      tests.push(t);
      testLocations.push(yaml.locate([...path, key, i]));
    });
  }
  return { tests, testLocations };
}

function loadColumns(yaml: YamlFile, diags: Diagnostics, value: unknown, path: YamlPath): ColumnSpec[] {
  expectType(yaml, path, value, ['list'], 'columns');
  return ((value as unknown[]) ?? []).map((col, i) => {
    const c = requireName(yaml, col, [...path, i], 'columns');
    diags.unknownKeys(yaml, [...path, i], c, COLUMN_KEYS, `column '${c.name}'`);
    expectType(yaml, [...path, i, 'data_type'], c.data_type, ['string']);
    expectType(yaml, [...path, i, 'tests'], c.tests, ['list']);
    expectType(yaml, [...path, i, 'data_tests'], c.data_tests, ['list']);
    return {
      name: c.name,
      description: typeof c.description === 'string' ? c.description : '',
      dataType: c.data_type as string | undefined,
      meta: (c.meta as Record<string, unknown>) ?? {},
      quote: c.quote as boolean | undefined,
      constraints: (c.constraints as unknown[]) ?? [],
      ...testsOf(yaml, c, [...path, i]),
      location: yaml.locate([...path, i]),
      tags: Array.isArray(c.tags) ? c.tags.map(String) : c.tags ? [String(c.tags)] : [],
    };
  });
}

function loadPatch(yaml: YamlFile, diags: Diagnostics, section: NodePatch['resourceType'], entry: unknown, path: YamlPath): NodePatch {
  const e = requireName(yaml, entry, path, section);
  diags.unknownKeys(yaml, path, e, NODE_KEYS, `${section.replace(/s$/, '')} '${e.name}'`);
  expectType(yaml, [...path, 'description'], e.description, ['string']);
  expectType(yaml, [...path, 'tests'], e.tests, ['list']);
  expectType(yaml, [...path, 'data_tests'], e.data_tests, ['list']);
  const config = loadConfigBlock(yaml, diags, e.config, [...path, 'config']);
  // Older dbt allowed some configs at the top of the entry (docs, meta, tags).
  if (e.tags !== undefined) config.tags = e.tags;
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!['name', 'description', 'config', 'columns', 'tests', 'data_tests', 'meta', 'docs', 'constraints', 'tags'].includes(k)) extra[k] = v;
  return {
    resourceType: section,
    name: e.name,
    description: (e.description as string) ?? '',
    config,
    columns: loadColumns(yaml, diags, e.columns, [...path, 'columns']),
    ...testsOf(yaml, e, path),
    meta: (e.meta as Record<string, unknown>) ?? {},
    docs: (e.docs as Record<string, unknown>) ?? {},
    constraints: (e.constraints as unknown[]) ?? [],
    location: yaml.locate(path),
    file: yaml.file,
    extra,
  };
}

function loadSource(yaml: YamlFile, diags: Diagnostics, entry: unknown, path: YamlPath): SourceTableSpec[] {
  const s = requireName(yaml, entry, path, 'sources');
  diags.unknownKeys(yaml, path, s, SOURCE_KEYS, `source '${s.name}'`);
  for (const key of ['database', 'schema', 'catalog', 'project', 'dataset', 'loader', 'loaded_at_field', 'description']) {
    expectType(yaml, [...path, key], s[key], ['string']);
  }
  expectType(yaml, [...path, 'tables'], s.tables, ['list']);
  expectType(yaml, [...path, 'quoting'], s.quoting, ['mapping']);
  const sourceConfig = loadConfigBlock(yaml, diags, s.config, [...path, 'config']);
  return ((s.tables as unknown[]) ?? []).map((tableEntry, i) => {
    const tpath = [...path, 'tables', i];
    const t = requireName(yaml, tableEntry, tpath, `source '${s.name}' tables`);
    diags.unknownKeys(yaml, tpath, t, SOURCE_TABLE_KEYS, `source table '${s.name}.${t.name}'`);
    for (const key of ['identifier', 'loaded_at_field', 'description']) expectType(yaml, [...tpath, key], t[key], ['string']);
    const tags = [...stringList(s.tags), ...stringList(t.tags)];
    return {
      packageName: '',
      folders: [],
      sourceName: s.name,
      name: t.name,
      database: (s.database ?? s.catalog ?? s.project) as string | undefined,
      schema: ((s.schema ?? s.dataset) as string | undefined) ?? s.name,
      identifier: (t.identifier as string | undefined) ?? t.name,
      description: (t.description as string) ?? '',
      sourceDescription: (s.description as string) ?? '',
      loader: (s.loader as string) ?? '',
      loadedAtField: (t.loaded_at_field ?? s.loaded_at_field) as string | undefined,
      quoting: { ...((s.quoting as object) ?? {}), ...((t.quoting as object) ?? {}) },
      freshness: t.freshness ?? s.freshness,
      columns: loadColumns(yaml, diags, t.columns, [...tpath, 'columns']),
      ...testsOf(yaml, t, tpath),
      meta: { ...((s.meta as object) ?? {}), ...((t.meta as object) ?? {}) },
      tags: [...new Set(tags)],
      config: { ...sourceConfig, ...loadConfigBlock(yaml, diags, t.config, [...tpath, 'config']) },
      location: yaml.locate(tpath),
      file: yaml.file,
    };
  });
}
