/**
 * The Adapter interface: the only thing the engine knows about warehouses.
 *
 * An adapter folder (`adapters/<type>/`) exports an {@link AdapterFactory}. The engine asks it to validate the
 * profile's target fields, then to open an {@link Adapter} for the run. Everything dialect-specific — quoting,
 * DDL text, type names, catalog queries, bulk loading — sits behind these methods, so materializations, tests
 * and seeds are written once in `src/run/`.
 *
 * The method set follows what dbt's adapters implement (dbt-duckdb, dbt-postgres, dbt-redshift,
 * dbt-bigquery, dbt-snowflake): relation naming with three parts, case normalisation for warehouses that
 * fold unquoted identifiers (Snowflake upper-cases), rename-based swaps where `CREATE OR REPLACE` is missing
 * or not atomic, cancellation of in-flight queries, and per-statement response metadata (rows, bytes).
 *
 * @example
 * ```ts
 * const factory = await loadAdapterFactory('duckdb');
 * const config = factory.validateTarget(target.fields, target.location);
 * const adapter = await factory.open(config, { threads: 4, projectDir });
 * await adapter.withConnection(async (conn) => conn.execute('select 1'));
 * await adapter.close();
 * ```
 */
import type { SourceLocation } from './errors.js';

/** A three-part relation name. `database` is the catalog (DuckDB file, BigQuery project, Snowflake db). */
export interface RelationRef {
  database?: string;
  schema: string;
  identifier: string;
}

export type RelationKind = 'table' | 'view' | 'materialized_view' | 'external' | 'dynamic_table';

export interface RelationInfo extends RelationRef {
  kind: RelationKind;
}

export interface ColumnInfo {
  name: string;
  /** The warehouse's own type name, e.g. `INTEGER`, `VARCHAR`, `TIMESTAMP WITH TIME ZONE`. */
  dataType: string;
}

/**
 * What the warehouse said about a statement, in dbt's run_results `adapter_response` terms: a message,
 * rows affected, the warehouse's query/job id, and extras such as `bytes_processed`, `bytes_billed`,
 * `slot_ms` (BigQuery) or `rows_inserted` (Snowflake), spelled as dbt spells them.
 */
export interface AdapterResponse {
  /** Short response text in the warehouse's words: `OK`, `INSERT 0 5`, `CREATE VIEW` … */
  message: string;
  code?: string;
  rowsAffected?: number;
  queryId?: string;
  extra?: Record<string, string | number | null>;
}

/** What one statement returned. `rows` are plain JS values (numbers, strings, booleans, Dates, null). */
export interface QueryResult extends AdapterResponse {
  columns: ColumnInfo[];
  rows: Record<string, unknown>[];
}

export interface ExecuteOptions {
  /** Values bound as parameters ($1, ? … as the adapter's dialect writes placeholders). */
  params?: readonly unknown[];
  /** At most this many rows are fetched (`kiln show`); the adapter may push it to the warehouse. */
  limit?: number;
}

/**
 * One session with the warehouse. Statements on one connection run in order; transactions are per
 * connection. `sql` may hold several statements (hooks do); an adapter whose driver runs one at a time
 * splits them and returns the last result.
 */
export interface Connection {
  execute(sql: string, opts?: ExecuteOptions): Promise<QueryResult>;
}

/** The portable column types Kiln infers for seed CSVs; adapters map them to native names. */
export type SeedColumnType = 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'text';

/** What a seed column holds, for adapters that size types (Redshift `varchar(n)`). */
export interface SeedColumnStats {
  /** Longest value in UTF-8 bytes. */
  maxByteLength: number;
  /** Most digits after the decimal point. */
  maxScale: number;
}

/** One seed file ready to load: resolved column names and native types. */
export interface SeedLoad {
  path: string;
  delimiter: string;
  rowCount: number;
  columns: { name: string; type: SeedColumnType; nativeType: string }[];
  /** Whether the column names are to be quoted in DDL (dbt's `quote_columns`). */
  quoteColumns: boolean;
}

/** Which parts of a relation name are quoted (dbt's `quoting:` config). */
export interface QuotePolicy {
  database: boolean;
  schema: boolean;
  identifier: boolean;
}

/** dbt's constraint types, as written under `constraints:` in schema YAML. */
export type ConstraintType = 'not_null' | 'unique' | 'primary_key' | 'foreign_key' | 'check' | 'custom';

/**
 * How a warehouse treats a constraint type (dbt's ConstraintSupport): `enforced` — declared in the DDL and
 * checked on every write; `not_enforced` — declared in the DDL but only informational (Snowflake's primary
 * keys), so Kiln warns; `not_supported` — left out of the DDL, so Kiln warns.
 */
export type ConstraintSupport = 'enforced' | 'not_enforced' | 'not_supported';

/**
 * One constraint ready for DDL text: names already resolved. `columns` (model-level constraints) are
 * rendered identifiers; `to` is a rendered relation (`"db"."main"."customers"`) for `foreign_key`.
 *
 * @example
 * { type: 'check', expression: 'amount >= 0' }                       // check (amount >= 0)
 * { type: 'foreign_key', columns: ['customer_id'], to: '"main"."customers"', toColumns: ['id'] }
 */
export interface ConstraintDdl {
  type: ConstraintType;
  name?: string;
  expression?: string;
  columns?: readonly string[];
  to?: string;
  toColumns?: readonly string[];
}

/** A column of an explicitly created table (seeds, contracted models). */
export interface TableColumnDef {
  name: string;
  /** Native type text as it goes into the DDL (`INTEGER`, `decimal(10,2)`). */
  type: string;
  /** Quote this column's name; when absent the call's `quoteColumns` decides. */
  quote?: boolean;
  /** Column constraint clauses from {@link DdlDialect.columnConstraint}, written after the type. */
  constraints?: readonly string[];
}

/** What an adapter can and cannot do; the engine picks strategies from these, never from `type`. */
export interface AdapterCapabilities {
  /** DDL (create/rename/drop) can run inside a transaction and roll back (DuckDB, Postgres, Redshift). */
  transactionalDdl: boolean;
  /**
   * Where DDL cannot (it commits by itself), DML statements can still run together in one transaction
   * (Snowflake): an incremental step's delete and insert, a snapshot's updates and inserts, all or none.
   */
  transactionalDml?: boolean;
  /**
   * Kinds the warehouse replaces atomically with `create or replace … as` (Snowflake, BigQuery). Where a
   * kind is listed and DDL is not transactional, the engine replaces in place instead of swapping names.
   */
  createOrReplace: ReadonlySet<RelationKind>;
  /** Kinds that can be renamed (BigQuery cannot rename views; Redshift cannot rename materialized views). */
  renameable: ReadonlySet<RelationKind>;
  /** `drop … cascade` also drops dependent views (Postgres, Redshift): caches must forget the schema. */
  dropCascadesToDependents: boolean;
  /** Longest identifier the warehouse accepts (Postgres 63, Redshift 127); temporary names stay within it. */
  maxIdentifierLength: number;
  /**
   * Per constraint type, whether the warehouse enforces it in tables built under an enforced contract.
   * `custom` constraints are always written as given and never warned about (dbt's rule).
   *
   * @example
   * { not_null: 'enforced', unique: 'not_enforced', primary_key: 'not_enforced', foreign_key: 'not_enforced',
   *   check: 'not_supported', custom: 'enforced' } // roughly Snowflake
   */
  constraintSupport: Readonly<Record<ConstraintType, ConstraintSupport>>;
  /** Why a type is not enforced or not supported, when that is this adapter's choice; added to the warning. */
  constraintNotes?: Readonly<Partial<Record<ConstraintType, string>>>;
  /**
   * The incremental strategies this adapter runs; asking a model for another is a compile error naming the
   * model and this list. The first is the default when a model sets none (dbt: append, or merge on the
   * warehouses whose default is merge).
   */
  incrementalStrategies: readonly IncrementalStrategy[];
}

/** dbt's incremental strategies. */
export type IncrementalStrategy = 'append' | 'merge' | 'delete+insert' | 'insert_overwrite' | 'microbatch';

/**
 * One incremental step's SQL inputs: new rows are staged in `source` (a table with the model's new rows);
 * `target` is the existing table. Column names are already quoted as the warehouse needs.
 *
 * @example
 * // merge on id, updating amount: the adapter returns
 * // merge into "main"."orders" as DBT_INTERNAL_DEST using "main"."orders__kiln_incr" as DBT_INTERNAL_SOURCE
 * //   on (DBT_INTERNAL_SOURCE.id = DBT_INTERNAL_DEST.id) when matched then update set amount = DBT_INTERNAL_SOURCE.amount
 * //   when not matched then insert (id, amount) values (DBT_INTERNAL_SOURCE.id, DBT_INTERNAL_SOURCE.amount)
 */
export interface IncrementalStep {
  target: RelationRef;
  source: RelationRef;
  /** Columns to insert, in the target's order. */
  columns: readonly string[];
  /** unique_key columns (empty: none). */
  uniqueKey: readonly string[];
  /** merge: the columns a matched row updates. */
  updateColumns: readonly string[];
  /** incremental_predicates: SQL conditions on DBT_INTERNAL_DEST / DBT_INTERNAL_SOURCE, and-ed in. */
  predicates: readonly string[];
  /** insert_overwrite: the partition column whose values in `source` are replaced. */
  partitionBy?: string;
  /**
   * The model's config, for dialects whose statements depend on more of it (BigQuery: the partition's
   * data_type and granularity, and static `partitions` for insert_overwrite).
   *
   * @example
   * { partition_by: { field: 'day', data_type: 'date' }, partitions: ["date('2024-01-01')"] }
   */
  config?: NodeConfigView;
}

/** A node's resolved config as DDL sees it (read-only). */
export type NodeConfigView = Readonly<Record<string, unknown>>;

/**
 * A relation the engine has just built at its final name, for {@link Adapter.afterBuild}: its kind, the
 * node's config (`grants`, `persist_docs`, `indexes` …) and the node's documentation.
 */
export interface BuiltRelation {
  relation: RelationRef;
  kind: RelationKind;
  config: NodeConfigView;
  description?: string;
  columns: readonly { name: string; description?: string }[];
  /**
   * False when rows were added to a table that already existed (an incremental step, a snapshot's later
   * runs): what a new relation needs once (indexes) is already there. True or absent for a new relation.
   */
  fresh?: boolean;
}

/**
 * Dialect pieces of snapshots (dbt's SCD type 2), where a warehouse differs from the portable defaults in
 * `src/run/snapshotSql.ts`. Every method is optional; the engine builds the rest of the SQL.
 *
 * @example
 * const snapshot: SnapshotDialect = {
 *   currentTime: () => 'now()::timestamp',                       // dbt's snapshot_get_time
 *   hash: (exprs) => `md5(${exprs.map((e) => `coalesce(cast(${e} as varchar), '')`).join(" || '|' || ")})`,
 * };
 */
export interface SnapshotDialect {
  /** The time a snapshot run stamps on check-strategy rows and hard deletes (dbt's `snapshot_get_time`). */
  currentTime?(): string;
  /** A text hash of the expressions, for `dbt_scd_id` (dbt's `snapshot_hash_arguments`): md5 of `a|b`. */
  hash?(exprs: readonly string[]): string;
  /**
   * Statements that apply staged changes to the snapshot table, in this order, inside one transaction: close
   * the rows staged as `update`/`delete` (set `validTo` from the staging row with the same `scdId` where the
   * target row is current), then insert the rows staged as `insert` (dbt's `snapshot_merge_sql`).
   *
   * @example
   * mergeStatements({ target: '"main"."snap"', staging: '"main"."snap__kiln_snapshot_staging"',
   *   insertColumns: ['"id"', '"dbt_scd_id"'], validTo: 'dbt_valid_to', scdId: 'dbt_scd_id', isCurrent: (c) => `${c} is null` })
   * // ['update "main"."snap" as t set dbt_valid_to = s.dbt_valid_to from … where …', 'insert into "main"."snap" (…) select … where s.dbt_change_type = \'insert\'']
   */
  mergeStatements?(p: SnapshotMerge): string[];
  /**
   * Add a column the source gained to the snapshot table (dbt's `create_columns`).
   *
   * @example
   * addColumn('"main"."snap"', '"email"', 'VARCHAR') // alter table "main"."snap" add column "email" VARCHAR
   */
  addColumn?(relation: string, quotedColumn: string, dataType: string): string;
}

/** What {@link SnapshotDialect.mergeStatements} applies. Relations are rendered; column lists are quoted. */
export interface SnapshotMerge {
  target: string;
  staging: string;
  insertColumns: readonly string[];
  /** Meta column names as configured (snapshot_meta_column_names), unquoted as dbt writes them. */
  validTo: string;
  scdId: string;
  /** The condition that a row (column expression given) is current: `x is null`, or also `= dbt_valid_to_current`. */
  isCurrent(validToExpr: string): string;
}

/** Dialect DDL text. Each method returns one statement; the engine decides order and transactions. */
export interface DdlDialect {
  createSchema(database: string | undefined, schema: string): string;
  /**
   * `sqlHeader` (dbt's sql_header config) goes before the statement, not inside the select. `config` is the
   * node's config, for warehouse-specific clauses (Redshift `dist`/`sort`/`backup`/`bind`, Postgres `unlogged`).
   */
  createTableAs(rel: RelationRef, selectSql: string, opts: { replace: boolean; sqlHeader?: string; config?: NodeConfigView }): string;
  createViewAs(rel: RelationRef, selectSql: string, opts: { replace: boolean; sqlHeader?: string; config?: NodeConfigView }): string;
  /**
   * Create an empty table with explicit columns (seeds; models with an enforced contract), with optional
   * column constraint clauses and table-level `constraints` clauses.
   *
   * @example
   * createTable(rel, [{ name: 'id', type: 'integer', constraints: ['not null'] }], false, { constraints: ['primary key (id)'] })
   * // create table "main"."orders" (id integer not null, primary key (id))
   */
  createTable(rel: RelationRef, columns: readonly TableColumnDef[], quoteColumns: boolean, opts?: { constraints?: readonly string[]; config?: NodeConfigView }): string;
  /**
   * Fill a table from a SELECT, naming the columns on both sides so the SELECT's column order does not
   * matter. `sqlHeader` goes before the statement.
   *
   * @example
   * insertSelect(rel, [{ name: 'id' }], 'select 1 as id', { quoteColumns: false })
   * // insert into "main"."orders" (id) select id from (select 1 as id) as __kiln_sbq
   */
  insertSelect(rel: RelationRef, columns: readonly { name: string; quote?: boolean }[], selectSql: string, opts: { quoteColumns: boolean; sqlHeader?: string }): string;
  /**
   * The statements of one incremental step, in order (run in one transaction where DDL is transactional).
   * Every adapter gets standard SQL from `src/run/incrementalSql.ts`; an adapter whose dialect differs
   * returns its own here for the strategies it overrides, or undefined to keep the standard SQL.
   */
  incrementalSql?(strategy: IncrementalStrategy, step: IncrementalStep): string[] | undefined;
  /** `alter table … add column`, `drop column`, and a column's type change (on_schema_change). */
  addColumn(rel: RelationRef, column: string, type: string): string;
  dropColumn(rel: RelationRef, column: string): string;
  alterColumnType(rel: RelationRef, column: string, type: string): string;
  /**
   * Replace `target` with the table built at `built` in one statement, keeping its column constraints
   * (create-or-replace warehouses; a multi-statement build such as a contracted table). Without it the
   * engine writes `create or replace table <target> as select * from <built>`, which keeps rows and types.
   *
   * @example
   * replaceFrom(target, tmp) // create or replace table "DB"."S"."ORDERS" clone "DB"."S"."ORDERS__KILN_TMP" (Snowflake)
   */
  replaceFrom?(target: RelationRef, built: RelationRef): string;
  /** A column constraint clause (`not null`, `check (x > 0)`, `references t (id)`), or undefined to leave it out. */
  columnConstraint(c: ConstraintDdl): string | undefined;
  /** A table constraint clause (`constraint pk primary key (a, b)`), or undefined to leave it out. */
  tableConstraint(c: ConstraintDdl): string | undefined;
  dropRelation(rel: RelationRef, kind: RelationKind): string;
  /** Rename `from` to `to` (same database and schema); adapters write `to` bare or qualified as their SQL needs. */
  renameRelation(from: RelationRef, kind: RelationKind, to: RelationRef): string;
  /** Transaction statements; present exactly when `capabilities.transactionalDdl` or `transactionalDml`. */
  begin?(): string;
  commit?(): string;
  rollback?(): string;
}

export interface Adapter {
  /** The profile `type` this adapter serves: `duckdb`, `postgres` … */
  readonly type: string;
  readonly capabilities: AdapterCapabilities;
  /** The target's database (catalog) and schema, used where a model does not set its own. */
  readonly defaultDatabase: string | undefined;
  readonly defaultSchema: string;
  readonly ddl: DdlDialect;

  /** Run `fn` on one pooled connection; the connection is released when the promise settles. */
  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T>;
  /** Cancel every in-flight statement (SIGINT). Resolves when they have stopped. */
  cancelAll(): Promise<void>;
  close(): Promise<void>;

  /**
   * A text value as a SQL string literal, where the warehouse escapes differently from standard SQL's doubled
   * quote (BigQuery: backslashes). Used only where values must be SQL text (unit-test fixture rows).
   *
   * @example
   * stringLiteral("O'Hara") // 'O\'Hara' (BigQuery); standard SQL writes 'O''Hara'
   */
  stringLiteral?(value: string): string;
  /** Quote one identifier part the way the warehouse needs it (`"a""b"`, `` `a` ``). */
  quoteIdentifier(name: string): string;
  /** Fold an unquoted identifier the way the warehouse does (Snowflake upper-cases; most leave it). */
  normalizeIdentifier(name: string): string;
  /** Render a relation as SQL text with the parts its quote policy quotes: `"db"."schema"."table"`. */
  renderRelation(rel: RelationRef): string;

  /**
   * A type name in the warehouse's canonical spelling, so that aliases compare equal (model contracts).
   *
   * @example
   * normalizeType('int')            // 'INTEGER' (DuckDB)
   * normalizeType('numeric(10, 2)') // 'DECIMAL(10,2)'
   */
  normalizeType(dataType: string): string;
  /**
   * Whether a column declared as `declared` (schema YAML `data_type`) is satisfied by a query column the
   * warehouse reports as `actual`. Usually `normalizeType(declared) === normalizeType(actual)`; an adapter
   * may be more lenient where its warehouse ignores part of a type (DuckDB ignores `varchar(n)` lengths).
   */
  typesMatch(declared: string, actual: string): boolean;

  /** Relations in one schema, with their kind. An unknown schema yields an empty list. */
  listRelations(conn: Connection, database: string | undefined, schema: string): Promise<RelationInfo[]>;
  /** Columns of one relation in order; empty when it does not exist. */
  getColumns(conn: Connection, rel: RelationRef): Promise<ColumnInfo[]>;

  /** Native type for a portable seed type; `stats` lets an adapter size it. */
  seedType(type: SeedColumnType, stats: SeedColumnStats): string;
  /** Whether seed column names are quoted when the project does not say (dbt: true, Snowflake: false). */
  readonly quoteSeedColumnsByDefault: boolean;
  /**
   * Bulk-load a CSV into an existing empty table (DuckDB reads it natively, Postgres uses COPY, BigQuery a
   * load job). Values never pass through SQL text.
   */
  loadSeed(conn: Connection, rel: RelationRef, seed: SeedLoad): Promise<AdapterResponse>;

  /**
   * Settings of a relation that are not part of its DDL (grants applied and revoked to match the config,
   * relation and column comments, indexes), run right after a build on the build's connection, inside the
   * swap's transaction where DDL is transactional. Each statement goes through `log` (target/run/).
   */
  afterBuild?(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void>;
  /**
   * Views (in any schema, transitively) that `drop … cascade` of `rel` would drop with it, where the
   * warehouse binds views to the relation they read (`capabilities.dropCascadesToDependents`).
   */
  dependentViews?(conn: Connection, rel: RelationRef): Promise<RelationInfo[]>;
  /** Snapshot SQL where this warehouse differs from the portable defaults (see {@link SnapshotDialect}). */
  readonly snapshot?: SnapshotDialect;
}

/** A validated target: adapter-specific fields plus the common ones every adapter has. */
export interface TargetConfig {
  type: string;
  threads?: number;
  /** The target's database (catalog) and schema after defaults; models land here unless configured. */
  database: string | undefined;
  schema: string;
  /** Field names that hold secrets, so logs and artifacts can redact their values. */
  secretFields: string[];
  fields: Record<string, unknown>;
}

export interface OpenOptions {
  threads: number;
  projectDir: string;
  projectName: string;
  /** The project file's `quoting:` (database, schema, identifier), the parts it sets. */
  quoting?: Partial<QuotePolicy>;
  /**
   * Connect on first use rather than now (`kiln compile`, which may never query). Connection errors then
   * surface at that first use. Adapters whose pools connect lazily anyway may ignore it.
   */
  connectLazily?: boolean;
}

export interface AdapterFactory {
  readonly type: string;
  /** Adapters whose dispatched macros this one inherits, nearest first (redshift: ['postgres']). */
  readonly parentTypes?: readonly string[];
  /**
   * Check a profile target's fields; throw a KilnError at `location` naming the bad field.
   * Returns the fields with defaults applied.
   */
  validateTarget(fields: Record<string, unknown>, location: SourceLocation, project: { dir: string; name: string }): TargetConfig;
  open(config: TargetConfig, opts: OpenOptions): Promise<Adapter>;
}
