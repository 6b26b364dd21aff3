/**
 * The resources of a parsed project — models, seeds, sources, analyses — as the graph, the runner and the
 * artifacts see them. Field meanings follow dbt's manifest so that artifacts map one to one.
 */
import type { SourceLocation } from '../errors.js';
import type { NodeConfig } from './nodeConfig.js';
import type { ColumnSpec } from './schemaYaml.js';

export type ResourceType = 'model' | 'seed' | 'source' | 'analysis' | 'snapshot' | 'test';

export interface RefCall {
  name: string;
  package?: string;
  version?: string | number;
  /** Where in the file the ref() was written, for "unknown ref" errors. */
  line?: number;
}

/** A relation token written by the parse render, resolved once every node's name is known. */
export type Placeholder =
  | { kind: 'ref'; ref: RefCall }
  | { kind: 'source'; source: string; table: string }
  | { kind: 'this' };

export interface ResolvedRelation {
  database?: string;
  schema: string;
  identifier: string;
}

interface NodeBase {
  uniqueId: string;
  resourceType: ResourceType;
  name: string;
  packageName: string;
  /** Path relative to the resource root (`staging/stg_orders.sql`). */
  path: string;
  /** Path relative to the project dir (`models/staging/stg_orders.sql`). */
  originalFilePath: string;
  fqn: string[];
  description: string;
  columns: ColumnSpec[];
  meta: Record<string, unknown>;
  tags: string[];
  config: NodeConfig;
  /** Where the node's schema YAML entry is, if it has one. */
  patchPath?: string;
  relation: ResolvedRelation;
}

export interface SqlNode extends NodeBase {
  resourceType: 'model' | 'analysis' | 'snapshot' | 'test';
  /** Model versions (`versions:` in YAML): this node's version, and the model's latest. */
  version?: string | number;
  latestVersion?: string | number;
  rawCode: string;
  checksum: string;
  refs: RefCall[];
  sources: [string, string][];
  /** Names of macros the node called (directly or through other macros). */
  macros: string[];
  /** Unique ids of parents, filled in when the graph is built. */
  dependsOn: string[];
  /** SQL with relation placeholders, from the parse render (see compile/placeholders.ts). */
  parsedSql: string;
  placeholders: Placeholder[];
  /** SQL that must run before the node's DDL in the same session (set_sql_header / sql_header config). */
  sqlHeader?: string;
  /** True when the SQL may differ at execute time (run_query, execute, is_incremental …): re-render to compile. */
  needsExecuteRender: boolean;
}

export interface SeedNode extends NodeBase {
  resourceType: 'seed';
  absPath: string;
  checksum: string;
  dependsOn: string[];
}

export interface SourceNode extends NodeBase {
  resourceType: 'source';
  sourceName: string;
  sourceDescription: string;
  loader: string;
  loadedAtField?: string;
  identifier: string;
  quoting: Record<string, unknown>;
  freshness?: unknown;
  location: SourceLocation;
}

export type ExecutableNode = SqlNode | SeedNode;
export type GraphNode = SqlNode | SeedNode | SourceNode;

export function isSqlNode(n: GraphNode): n is SqlNode {
  return n.resourceType === 'model' || n.resourceType === 'analysis' || n.resourceType === 'snapshot' || n.resourceType === 'test';
}
