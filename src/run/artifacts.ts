/**
 * Artifacts in target/: manifest.json and run_results.json, with the field names and layout of dbt's
 * (manifest v12, run-results v6), so tools that read dbt artifacts read Kiln's.
 */
import { compiledFileOf } from '../compile/compileNode.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ColumnSpec } from '../project/schemaYaml.js';
import { writeJsonAtomic } from '../project/files.js';
import type { GraphNode } from '../project/nodes.js';
import type { Invocation } from './invocation.js';
import { KILN_VERSION } from './invocation.js';
import { formatEventTime } from './microbatch.js';
import type { NodeResult } from './results.js';
import { manifestHeader, manifestKey, ManifestWriter, reuseManifest } from './manifestReuse.js';

const DBT_VERSION_COMPAT = '1.8.0';

/** Compact, as dbt writes them: a 10,000-model manifest is tens of MB and indenting doubles the work. */
function writeJson(dir: string, name: string, data: unknown): void {
  writeJsonAtomic(join(dir, name), data);
}

function metadata(inv: Invocation, schema: string) {
  return {
    dbt_schema_version: `https://schemas.getdbt.com/dbt/${schema}`,
    dbt_version: DBT_VERSION_COMPAT,
    kiln_version: KILN_VERSION,
    generated_at: new Date().toISOString(),
    invocation_id: inv.invocationId,
    env: {},
  };
}

function columns(cols: ColumnSpec[]) {
  return Object.fromEntries(cols.map((c) => [c.name, {
    name: c.name, description: c.description, meta: c.meta, data_type: c.dataType ?? null,
    constraints: c.constraints, quote: c.quote ?? null, tags: c.tags,
  }]));
}

/** A unit test's given/expect entry as dbt writes it: without where Kiln found it in the YAML (for errors). */
function fixtureEntry<T extends { location?: unknown }>(entry: T): Omit<T, 'location'> {
  const { location: _location, ...rest } = entry;
  void _location;
  return rest;
}

/**
 * One node's manifest entry. Built as one object literal per kind (no spreads): on 10,000 models the
 * spread version cost more than serializing the whole manifest.
 */
function nodeEntry(inv: Invocation, n: GraphNode) {
  const relationName = n.resourceType === 'model' && n.config.materialized === 'ephemeral'
    ? null
    : inv.warehouse ? inv.warehouse.adapter.renderRelation(n.relation) : `${n.relation.database ? `${n.relation.database}.` : ''}${n.relation.schema}.${n.relation.identifier}`;
  const createdAt = inv.startedAt.getTime() / 1000;
  const patchPath = n.patchPath ? `${n.packageName}://${n.patchPath}` : null;
  if (n.resourceType === 'source') {
    return {
      database: n.relation.database ?? null, schema: n.relation.schema, name: n.name, resource_type: n.resourceType,
      package_name: n.packageName, path: n.path, original_file_path: n.originalFilePath, unique_id: n.uniqueId, fqn: n.fqn,
      description: n.description, columns: columns(n.columns), meta: n.meta, tags: n.tags, config: n.config,
      patch_path: patchPath, unrendered_config: {}, relation_name: relationName, created_at: createdAt,
      source_name: n.sourceName, source_description: n.sourceDescription, loader: n.loader, identifier: n.identifier,
      quoting: n.quoting, loaded_at_field: n.loadedAtField ?? null, freshness: n.freshness ?? null, external: null, source_meta: {},
    };
  }
  if (n.resourceType === 'unit_test') {
    return {
      model: n.model, given: n.given.map(fixtureEntry), expect: fixtureEntry(n.expect), name: n.name, resource_type: n.resourceType, package_name: n.packageName,
      path: n.path, original_file_path: n.originalFilePath, unique_id: n.uniqueId, fqn: n.fqn, description: n.description,
      overrides: { macros: n.overrides.macros, vars: n.overrides.vars, env_vars: n.overrides.envVars },
      depends_on: { macros: [], nodes: n.dependsOn }, config: n.config, checksum: null, schema: n.relation.schema,
      created_at: createdAt, versions: n.modelVersion === undefined ? null : { include: [n.modelVersion], exclude: null }, version: n.modelVersion ?? null,
    };
  }
  if (n.resourceType === 'seed') {
    return {
      database: n.relation.database ?? null, schema: n.relation.schema, name: n.name, resource_type: n.resourceType,
      package_name: n.packageName, path: n.path, original_file_path: n.originalFilePath, unique_id: n.uniqueId, fqn: n.fqn,
      description: n.description, columns: columns(n.columns), meta: n.meta, tags: n.tags, config: n.config,
      patch_path: patchPath, unrendered_config: {}, relation_name: relationName, created_at: createdAt,
      alias: n.relation.identifier, checksum: { name: 'sha256', checksum: n.checksum }, docs: { show: true, node_color: null },
      build_path: null, root_path: inv.project.dir, depends_on: { macros: [], nodes: [] },
    };
  }
  const compiled = inv.warehouse?.compiler.finished.get(n.uniqueId);
  return {
    database: n.relation.database ?? null, schema: n.relation.schema, name: n.name, resource_type: n.resourceType,
    package_name: n.packageName, path: n.path, original_file_path: n.originalFilePath, unique_id: n.uniqueId, fqn: n.fqn,
    description: n.description, columns: columns(n.columns), meta: n.meta, tags: n.tags, config: n.config,
    patch_path: patchPath, unrendered_config: {}, relation_name: relationName, created_at: createdAt,
    alias: n.relation.identifier,
    checksum: { name: 'sha256', checksum: n.checksum },
    docs: { show: true, node_color: null },
    build_path: null,
    language: 'sql',
    raw_code: n.rawCode,
    refs: n.refs.map((r) => ({ name: r.name, package: r.package ?? null, version: r.version ?? null })),
    sources: n.sources,
    metrics: [],
    depends_on: { macros: n.macros.map((m) => macroId(inv, m)).filter((m): m is string => !!m), nodes: n.dependsOn },
    compiled_path: compiled ? `${inv.project.file.targetPath}/compiled/${n.packageName}/${compiledFileOf(n)}` : null,
    compiled: !!compiled,
    compiled_code: compiled?.sql ?? null,
    extra_ctes_injected: !!compiled,
    extra_ctes: compiled ? compiled.ctes.map((c) => ({ id: c.id, sql: c.sql })) : [],
    contract: { enforced: !!(n.config.contract as { enforced?: boolean } | undefined)?.enforced, alias_types: true, checksum: null },
    access: n.config.access ?? 'protected',
    constraints: n.constraints ?? [],
    ...(n.resourceType === 'test' ? {
      test_metadata: n.testMetadata ? { name: n.testMetadata.name, kwargs: n.testMetadata.kwargs, namespace: n.testMetadata.namespace } : undefined,
      column_name: n.columnName ?? null, file_key_name: n.fileKeyName ?? null, attached_node: n.attachedNode ?? null,
    } : {}),
    version: n.version ?? null,
    latest_version: n.latestVersion ?? null,
    deprecation_date: null,
    group: null,
  };
}

function macroId(inv: Invocation, name: string): string | undefined {
  const def = inv.parsed.renderer.macros.find(name);
  return def ? `macro.${def.packageName === 'kiln' ? 'dbt' : def.packageName}.${name}` : undefined;
}

function manifestMetadata(inv: Invocation) {
  return {
    ...metadata(inv, 'manifest/v12.json'),
    project_name: inv.project.name,
    project_id: createHash('md5').update(inv.project.name).digest('hex'),
    user_id: null,
    send_anonymous_usage_stats: false,
    adapter_type: inv.target.type,
  };
}

/**
 * What a node's manifest entry depends on beyond the parse's other inputs: its own file's content (model
 * and analysis files are outside the entries key), the SQL it compiled to, and a unit test's edges.
 */
function entryFingerprint(inv: Invocation, n: GraphNode): string {
  const compiled = inv.warehouse?.compiler.finished.get(n.uniqueId);
  const file = inv.parseIdentity?.sqlFiles[n.originalFilePath] ?? '';
  const edges = n.resourceType === 'unit_test' ? n.dependsOn.join(',') : '';
  return `${file}|${compiled ? compiled.sqlHash : '-'}|${edges}`;
}

/**
 * Keep manifest.json as it is (metadata refreshed) when it is still the one written with key `key` (as
 * writeManifest returned it). False when it is not.
 */
export function reuseManifestWithKey(inv: Invocation, key: string): boolean {
  return reuseManifest(inv.targetDir, key, manifestMetadata(inv));
}

/**
 * manifest.json, streamed section by section with the layout of JSON.stringify of dbt's manifest; entries
 * that did not change are copied from the previous file (see manifestReuse.ts).
 */
export function writeManifest(inv: Invocation): string | undefined {
  const meta = manifestMetadata(inv);
  const warehouseOpen = !!inv.warehouse;
  const keys = inv.parseIdentity;
  const key = keys ? manifestKey(keys.key, warehouseOpen, inv.warehouse?.compiler.finished) : undefined;
  if (key && reuseManifest(inv.targetDir, key, meta)) return key;
  const entriesKey = keys ? createHash('sha1').update(`${keys.baseKey}\0${warehouseOpen}`).digest('hex') : undefined;

  const nodes: GraphNode[] = [];
  const sources: GraphNode[] = [];
  const unitTests: GraphNode[] = [];
  const parentMap: Record<string, string[]> = {};
  const childMap: Record<string, string[]> = {};
  for (const n of inv.parsed.nodes.values()) {
    (n.resourceType === 'source' ? sources : n.resourceType === 'unit_test' ? unitTests : nodes).push(n);
    parentMap[n.uniqueId] = [...inv.graph.parents(n.uniqueId)].sort();
    childMap[n.uniqueId] = [...inv.graph.children(n.uniqueId)].sort();
  }
  const macros: Record<string, unknown> = {};
  for (const def of inv.parsed.renderer.macros.allDefinitions()) {
    const pkg = def.packageName === 'kiln' ? 'dbt' : def.packageName;
    macros[`macro.${pkg}.${def.name}`] = {
      name: def.name, resource_type: 'macro', package_name: pkg, path: def.path, original_file_path: def.path,
      unique_id: `macro.${pkg}.${def.name}`, macro_sql: '', depends_on: { macros: [] }, description: '', meta: {},
      docs: { show: true, node_color: null }, patch_path: null, arguments: [], created_at: inv.startedAt.getTime() / 1000,
      supported_languages: null,
    };
  }
  const disabled: Record<string, unknown[]> = {};
  for (const n of inv.parsed.disabled.values()) disabled[n.uniqueId] = [nodeEntry(inv, n)];

  const w = new ManifestWriter(inv.targetDir, key, entriesKey);
  try {
    w.raw(manifestHeader(meta));
    w.markHeader();
    const section = (name: string, list: GraphNode[]) => {
      w.raw(`,${JSON.stringify(name)}:{`);
      list.forEach((n, i) => w.entry(n.uniqueId, entryFingerprint(inv, n), () => nodeEntry(inv, n), i === 0));
      w.raw('}');
    };
    section('nodes', nodes);
    section('sources', sources);
    w.raw(`,"macros":${JSON.stringify(macros)},"docs":{},"exposures":{},"metrics":{},"groups":{},"selectors":{}`);
    w.raw(`,"disabled":${JSON.stringify(disabled)},"parent_map":${JSON.stringify(parentMap)},"child_map":${JSON.stringify(childMap)}`);
    w.raw(',"group_map":{},"saved_queries":{},"semantic_models":{}');
    section('unit_tests', unitTests);
    w.raw('}');
    w.finish();
  } catch (e) {
    w.abort();
    throw e;
  }
  inv.opts.reporter.debug(`manifest: ${w.reused} entries kept from the previous manifest, ${w.serialized} written`);
  return key;
}

export function writeRunResults(inv: Invocation, results: readonly NodeResult[], elapsedSeconds: number): void {
  writeJson(inv.targetDir, 'run_results.json', {
    metadata: metadata(inv, 'run-results/v6.json'),
    results: results.map((r) => ({
      status: r.status,
      timing: r.timing.map((t) => ({ name: t.name, started_at: t.startedAt, completed_at: t.completedAt })),
      thread_id: r.threadId,
      execution_time: r.executionTime,
      adapter_response: r.adapterResponse,
      message: r.message,
      failures: r.failures,
      unique_id: r.uniqueId,
      compiled: r.compiledCode !== undefined,
      compiled_code: r.compiledCode ?? null,
      relation_name: r.relationName ?? null,
      batch_results: r.batchResults ?? null,
    })),
    elapsed_time: elapsedSeconds,
    args: {
      which: inv.opts.command,
      select: inv.opts.select,
      exclude: inv.opts.exclude,
      selector: inv.opts.selector ?? null,
      target: inv.target.name,
      threads: inv.threads,
      full_refresh: inv.opts.fullRefresh,
      fail_fast: inv.opts.failFast,
      vars: inv.opts.vars,
      project_dir: inv.project.dir,
      event_time_start: inv.opts.eventTimeStart ? formatEventTime(inv.opts.eventTimeStart) : null,
      event_time_end: inv.opts.eventTimeEnd ? formatEventTime(inv.opts.eventTimeEnd) : null,
      store_failures: !!inv.opts.storeFailures,
      indirect_selection: inv.opts.indirectSelection ?? 'eager',
    },
  });
}
