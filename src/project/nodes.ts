/**
 * The resources of a parsed project — models, seeds, sources, analyses — as the graph, the runner and the
 * artifacts see them. Field meanings follow dbt's manifest so that artifacts map one to one.
 */
import type { SourceLocation } from '../errors.js';
import type { NodeConfig } from './nodeConfig.js';
import type { ColumnSpec } from './schemaYaml.js';

export type ResourceType = 'model' | 'seed' | 'source' | 'analysis' | 'snapshot' | 'test' | 'unit_test';

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
  /** The line of that entry (file is patchPath). */
  patchLocation?: SourceLocation;
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
  /** Model-level `constraints:` from schema YAML, as written (column constraints are on `columns`). */
  constraints?: unknown[];
  /** SQL that must run before the node's DDL in the same session (set_sql_header / sql_header config). */
  sqlHeader?: string;
  /** True when the SQL may differ at execute time (run_query, execute, is_incremental …): re-render to compile. */
  needsExecuteRender: boolean;
  /** Generic data tests: the test macro and its arguments (manifest `test_metadata`); singular tests have none. */
  testMetadata?: TestMetadata;
  /** Data tests declared on a column: its name (quoted when the column says `quote: true`). */
  columnName?: string;
  /** Data tests: the model, seed, snapshot or source the test was declared on (manifest `attached_node`). */
  attachedNode?: string;
  /** Generic tests: `models.orders` / `sources.raw` — the YAML entry that declared it (manifest `file_key_name`). */
  fileKeyName?: string;
  /** Generic tests: where in the schema YAML the test is written, for errors. */
  declaredAt?: SourceLocation;
  /** Generic tests: `__kiln_test` for their shared template (arguments, tested relation's name). */
  testTemplateArgs?: Record<string, unknown>;
}

/** A generic test's call as dbt records it: `test_<name>` in `namespace` (or found by dispatch) with kwargs. */
export interface TestMetadata {
  name: string;
  namespace: string | null;
  kwargs: Record<string, unknown>;
}

/** Rows for a unit test input or expectation, as written in YAML or read from a fixture file. */
export interface UnitTestRows {
  format: 'dict' | 'csv' | 'sql';
  /** `dict` and `csv`: the rows, values as parsed (csv values are strings, '' stays ''). */
  rows?: Record<string, unknown>[];
  /** `sql`: a select statement producing the rows. */
  sql?: string;
  /** The fixture file the rows came from (tests/fixtures/x.csv), when not inline. */
  fixture?: string;
  /** Where the entry is written in the schema YAML (the `given:` item, or `expect:`), for errors. */
  location?: SourceLocation;
}

/** One `given:` entry: `input` is written as in YAML, `ref('m')`, `ref('pkg', 'm', v=2)`, `source('s', 't')` or `this`. */
export interface UnitTestInput extends UnitTestRows {
  input: string;
}

/** A dbt 1.8-style unit test (`unit_tests:` in schema YAML): one model, fixed inputs, expected rows. */
export interface UnitTestNode extends NodeBase {
  resourceType: 'unit_test';
  /** Name of the model under test (and version, when the YAML pins one). */
  model: string;
  modelVersion?: string | number;
  given: UnitTestInput[];
  expect: UnitTestRows;
  overrides: { vars: Record<string, unknown>; macros: Record<string, unknown>; envVars: Record<string, unknown> };
  /** The model under test and the model's own parents (their real columns type the given rows). */
  dependsOn: string[];
  location: SourceLocation;
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
export type GraphNode = SqlNode | SeedNode | SourceNode | UnitTestNode;

export function isSqlNode(n: GraphNode): n is SqlNode {
  return n.resourceType === 'model' || n.resourceType === 'analysis' || n.resourceType === 'snapshot' || n.resourceType === 'test';
}
