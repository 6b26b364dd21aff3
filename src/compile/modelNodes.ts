/**
 * Making model and analysis nodes from their files: configs from the project file's trees (Jinja in them
 * rendered), schema YAML patches and model versions, then what the parse render found. Shared by a whole
 * parse and by a partial one (only the model files that changed since the parse snapshot).
 */
import { KilnError } from '../errors.js';
import { configInterner, mergeConfig, type NodeConfig } from '../project/nodeConfig.js';
import { patchKey, type Project, type SqlFile } from '../project/loadProject.js';
import type { GraphNode, ResolvedRelation, SeedNode, SqlNode } from '../project/nodes.js';
import { makeEnvVar, renderYamlTree } from '../project/yamlRender.js';
import type { NodeIdentity } from './context.js';
import type { ParseEntry } from './parseCache.js';
import type { Renderer } from './renderer.js';

export const MODEL_DEFAULTS: NodeConfig = {
  enabled: true, materialized: 'view', tags: [], 'pre-hook': [], 'post-hook': [], persist_docs: {}, quoting: {},
  column_types: {}, meta: {}, docs: { show: true }, contract: { enforced: false }, grants: {}, packages: [],
  on_schema_change: 'ignore', on_configuration_change: 'apply', access: 'protected', alias: null, schema: null,
  database: null, full_refresh: null, unique_key: null, incremental_strategy: null,
};

export type TreeSection = 'models' | 'analyses' | 'seeds' | 'sources' | 'tests' | 'snapshots';

/** A node made from its file, before its render: the config before config() calls, and the YAML's meta. */
export interface Pending {
  node: SqlNode;
  baseConfig: NodeConfig;
  patchMeta: Record<string, unknown>;
}

export interface VersionedFile {
  name: string;
  version: string | number;
  latest: string | number;
  config: NodeConfig;
  patchKey: string;
}

/** Where the target puts things, as the parse sees it. */
export interface TargetPlace {
  name: string;
  schema: string;
  database?: string;
}

function containsJinja(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{{') || value.includes('{%');
  if (Array.isArray(value)) return value.some(containsJinja);
  if (value && typeof value === 'object') return Object.values(value).some(containsJinja);
  return false;
}

export class ProjectConfigs {
  /**
   * Model versions: a YAML entry with `versions:` makes each `<name>_v<v>.sql` (or `defined_in`) a version of
   * one model. Keyed `<package>:<file name>`.
   */
  readonly versionedFiles = new Map<string, VersionedFile>();
  /** Each distinct Jinja text of the trees renders once. */
  private readonly renderedTreeValues = new Map<string, unknown>();
  private readonly internConfig = configInterner();

  constructor(
    private readonly project: Project,
    private readonly target: TargetPlace,
    private readonly targetVariable: Record<string, unknown>,
    /** Schema YAML patches; none when configuring models before the YAML is read (a speculative parse). */
    private readonly patches: Project['patches'] = project.patches,
  ) {
    for (const [key, patch] of patches) {
      const versions = patch.resourceType === 'models' ? patch.extra.versions : undefined;
      if (!Array.isArray(versions) || versions.length === 0) continue;
      const pkg = key.split(':')[1];
      const vs = versions.filter((v): v is Record<string, unknown> => !!v && typeof v === 'object' && (v as { v?: unknown }).v !== undefined);
      const numeric = vs.map((v) => Number(v.v)).filter((n) => !Number.isNaN(n));
      const latest = (patch.extra.latest_version as string | number | undefined) ?? (numeric.length ? Math.max(...numeric) : String(vs[vs.length - 1]?.v));
      for (const v of vs) {
        const file = typeof v.defined_in === 'string' ? v.defined_in : `${patch.name}_v${String(v.v)}`;
        this.versionedFiles.set(`${pkg}:${file}`, { name: patch.name, version: v.v as string | number, latest, config: (v.config as NodeConfig) ?? {}, patchKey: key });
      }
    }
  }

  /**
   * Project-file configs for a node: a package's own dbt_project.yml tree first, then the root project's
   * tree (which can configure package nodes under `models: {pkg: …}`) on top.
   */
  treeConfig(section: TreeSection, pkg: string, fqn: string[]): NodeConfig {
    const project = this.project;
    const own = pkg === project.name ? {} : project.packageFiles.get(pkg)?.trees[section].resolve(fqn) ?? {};
    return this.renderTreeConfig(mergeConfig(own, project.file.trees[section].resolve(fqn)), pkg);
  }

  /**
   * dbt renders Jinja in the project file's config tree (`+enabled: "{{ var('x') }}"`) with target, var and
   * env_var; hooks stay as written (they render per node at run time).
   */
  renderTreeConfig(config: NodeConfig, pkg: string): NodeConfig {
    let out: NodeConfig | undefined;
    for (const [key, value] of Object.entries(config)) {
      if (key === 'pre-hook' || key === 'post-hook' || !containsJinja(value)) continue;
      const memo = `${pkg}\0${JSON.stringify(value)}`;
      if (!this.renderedTreeValues.has(memo)) {
        const ctx = {
          env_var: makeEnvVar(),
          var: (name: string, ...rest: unknown[]) => this.project.vars.get(name, pkg, rest[0], rest.length > 0),
          target: this.targetVariable,
        };
        this.renderedTreeValues.set(memo, renderYamlTree(value, ctx, () => ({ file: this.project.packageFiles.get(pkg)?.file ?? this.project.file.file })));
      }
      out ??= { ...config };
      out[key] = this.renderedTreeValues.get(memo);
    }
    return out ?? config;
  }

  /**
   * The node of a model or analysis file, configured but not yet rendered. `speculated` is the file's
   * skeleton made before schema YAML was read: returned as it is when no YAML entry describes the file.
   */
  skeleton(file: SqlFile, resourceType: 'model' | 'analysis', speculated?: Pending): Pending {
    const tree = resourceType === 'model' ? 'models' : 'analyses';
    const versioned = resourceType === 'model' ? this.versionedFiles.get(`${file.packageName}:${file.name}`) : undefined;
    const name = versioned?.name ?? file.name;
    const fqn = versioned ? [...file.fqn.slice(0, -1), name, `v${String(versioned.version)}`] : file.fqn;
    const patch = versioned ? this.patches.get(versioned.patchKey) : this.patches.get(patchKey(tree, file.packageName, file.name));
    if (speculated && !versioned && !patch) return speculated;
    // The speculated skeleton's config is the defaults and the project tree already (same fqn, no version).
    const treeConfig = speculated && !versioned ? speculated.baseConfig : mergeConfig(MODEL_DEFAULTS, this.treeConfig(tree, file.packageName, fqn));
    const baseConfig = this.internConfig(mergeConfig(mergeConfig(treeConfig, patch?.config ?? {}), versioned?.config ?? {}));
    const node: SqlNode = {
      uniqueId: `${resourceType}.${file.packageName}.${name}${versioned ? `.v${String(versioned.version)}` : ''}`, resourceType, name,
      version: versioned?.version, latestVersion: versioned?.latest, packageName: file.packageName,
      path: file.relPath, originalFilePath: file.path, fqn, description: patch?.description ?? '',
      columns: patch?.columns ?? [], constraints: patch?.constraints ?? [], meta: {}, tags: [], config: baseConfig, patchPath: patch ? patch.file : undefined, patchLocation: patch?.location,
      relation: { schema: this.target.schema, identifier: file.name, database: this.target.database },
      rawCode: file.content, checksum: file.checksum, refs: [], sources: [], macros: [], dependsOn: [], parsedSql: '', placeholders: [],
      needsExecuteRender: false,
    };
    return { node, baseConfig, patchMeta: patch?.meta ?? {} };
  }
}

/** What the parse render found, onto the node: config() calls over the base config, refs, the parsed SQL. */
export function applyParseEntry({ node, baseConfig, patchMeta }: Pending, result: ParseEntry): void {
  // Without config() calls the node's config is its base config, shared by equal nodes (never changed in place).
  node.config = Object.keys(result.configCalls).length === 0 ? baseConfig : mergeConfig(baseConfig, result.configCalls);
  node.tags = (node.config.tags as string[]) ?? [];
  node.meta = { ...((node.config.meta as object) ?? {}), ...patchMeta };
  node.refs = result.refs;
  node.sources = result.sources;
  node.macros = result.macros;
  node.parsedSql = result.sql;
  node.placeholders = result.placeholders;
  node.needsExecuteRender = result.needsExecuteRender;
  node.sqlHeader = result.sqlHeader;
}

/** What Kiln's own generate_database/schema/alias_name macros return for a node (see macros/naming/). */
export function builtinRelation(node: SqlNode | SeedNode, target: TargetPlace): ResolvedRelation {
  const trim = (v: unknown) => String(v).trim();
  const { database, schema, alias } = node.config;
  const version = node.resourceType === 'seed' ? undefined : node.version;
  const db = database === null || database === undefined ? target.database : trim(database);
  return {
    database: db === undefined || db === null || db === '' ? undefined : String(db),
    schema: schema === null || schema === undefined ? target.schema : `${target.schema}_${trim(schema)}`,
    identifier: alias ? trim(alias) : version !== undefined && version !== null && version !== '' && version !== 0 ? `${node.name}_v${String(version).replace(/\./g, '_')}` : node.name,
  };
}

const NAMING_MACROS = ['generate_database_name', 'generate_schema_name', 'generate_alias_name'];

/** True when no project or package overrides the naming macros: builtinRelation answers for them. */
export function namingIsBuiltin(renderer: Renderer, adapterPrefixes: readonly string[]): boolean {
  return NAMING_MACROS.every((m) => [m, `default__${m}`, ...adapterPrefixes.map((p) => `${p}__${m}`)].every((n) => renderer.macros.onlyBuiltin(n)));
}

/**
 * A node's relation from the project's own naming macros, with the vars, env vars and flags they read (the
 * parse cache keeps the answer under them).
 */
export function macroRelation(
  renderer: Renderer, node: SqlNode | SeedNode, identity: NodeIdentity,
): { relation: ResolvedRelation; varsRead: string[]; envRead: string[]; flagsRead: string[] } {
  const nodeArg = {
    name: node.name, version: node.resourceType === 'model' ? node.version ?? null : null, unique_id: node.uniqueId, resource_type: node.resourceType,
    package_name: node.packageName, fqn: node.fqn, config: node.config, original_file_path: node.originalFilePath, path: node.path, tags: node.tags,
  };
  const { values: [database, schema, alias], record } = renderer.callMacros([
    ['generate_database_name', [node.config.database ?? null, nodeArg]],
    ['generate_schema_name', [node.config.schema ?? null, nodeArg]],
    ['generate_alias_name', [node.config.alias ?? null, nodeArg]],
  ], identity);
  return {
    relation: {
      database: database === null || database === undefined || database === '' ? undefined : String(database),
      schema: String(schema),
      identifier: String(alias),
    },
    varsRead: [...record.varsRead],
    envRead: [...record.envRead],
    flagsRead: [...record.flagsRead],
  };
}

/** Whether a node owns a relation in the warehouse (ephemeral models and tests do not). */
export function buildsRelation(node: GraphNode): boolean {
  return (node.resourceType === 'model' || node.resourceType === 'seed' || node.resourceType === 'snapshot') && node.config.materialized !== 'ephemeral';
}

/** The relation a node builds, as a key two nodes must not share. */
export function relationKey(node: GraphNode): string {
  return `${node.relation.database ?? ''}.${node.relation.schema}.${node.relation.identifier}`.toLowerCase();
}

export function relationClashError(node: GraphNode, other: GraphNode): KilnError {
  return new KilnError('config', `'${node.name}' and '${other.name}' would both build ${node.relation.schema}.${node.relation.identifier}`, {
    location: { file: node.originalFilePath },
    hint: `Give one of them a different alias or schema (the other is ${other.originalFilePath}).`,
  });
}
