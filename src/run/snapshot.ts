/**
 * Running a snapshot (dbt's SCD type 2 history of a query): the first run creates the snapshot table from
 * the query plus meta columns; later runs stage the changes in a staging table, add columns the source has
 * gained, then close changed and deleted rows and insert their new versions in one transaction (with the
 * post-hooks inside it), so a failure leaves the table as it was. `--full-refresh` never rebuilds a
 * snapshot (dbt's rule: its history cannot be recomputed). The SQL is in snapshotSql.ts.
 */
import { dirname, join } from 'node:path';
import type { Connection, QueryResult, RelationRef } from '../adapter.js';
import { snapshotSpec, type SnapshotSpec } from '../compile/snapshotNodes.js';
import { KilnError } from '../errors.js';
import type { SqlNode } from '../project/nodes.js';
import { asDatabaseError, relationRef, runHooks, writeStatements, type ExecuteOutcome, type ExecuteServices } from './executeNode.js';
import { suffixedName, type SqlLog, type StepResult } from './materialize.js';
import {
  buildSnapshotTableSql, CHANGE_TYPE, duplicateKeysSql, isCurrent, isPlainName, keyColumn, nullKeysSql, probeSql, snapshotDialect,
  stagingSql, unquote, type SnapshotSqlContext,
} from './snapshotSql.js';

export const STAGING_SUFFIX = '__kiln_snapshot_staging';

/** target/run/<pkg>/<snapshot dir>/<name>.sql: one file per snapshot even when a file holds several. */
function writeSnapshotRunFile(services: ExecuteServices, node: SqlNode, statements: string[]): void {
  writeStatements(join(services.runDir, node.packageName, dirname(node.originalFilePath), `${node.name}.sql`), statements);
}

/** Configured names (unique_key, updated_at, check_cols) that are plain names must be columns of the query. */
function checkNamedColumns(node: SqlNode, spec: SnapshotSpec, columns: readonly string[]): void {
  const have = new Set(columns.map((c) => c.toLowerCase()));
  const named: [string, string][] = [
    ...spec.uniqueKey.map((k): [string, string] => ['unique_key', k]),
    ...(spec.updatedAt ? [['updated_at', spec.updatedAt] as [string, string]] : []),
    ...(Array.isArray(spec.checkCols) ? spec.checkCols.map((k): [string, string] => ['check_cols', k]) : []),
  ];
  for (const [config, name] of named) {
    if (!isPlainName(name) || have.has(unquote(name).toLowerCase())) continue;
    throw new KilnError('config', `snapshot '${node.name}': ${config} names '${name}', which is not a column of the snapshot's query`, {
      location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
      hint: `The query's columns are: ${columns.join(', ')}. Fix ${config}, or select that column.`,
    });
  }
}

/** Duplicate keys would give a row several current versions: refuse, naming them. Null keys are warned about. */
async function checkKeys(services: ExecuteServices, node: SqlNode, spec: SnapshotSpec, run: (sql: string) => Promise<QueryResult>, sql: string): Promise<void> {
  const dups = await run(duplicateKeysSql(spec, sql));
  const keyText = spec.uniqueKey.length === 1 ? spec.uniqueKey[0] : `(${spec.uniqueKey.join(', ')})`;
  if (dups.rows.length > 0) {
    const value = (v: unknown) => (v === null || v === undefined ? 'null' : typeof v === 'string' ? `'${v}'` : v instanceof Date ? v.toISOString() : String(v));
    const list = dups.rows.map((r) => {
      const vals = spec.uniqueKey.map((_, i) => value(r[keyColumn(i)] ?? r[keyColumn(i).toUpperCase()]));
      const n = Number(r.dbt_kiln_rows ?? r.DBT_KILN_ROWS);
      return `${spec.uniqueKey.length === 1 ? vals[0] : `(${vals.join(', ')})`} (${n} rows)`;
    });
    throw new KilnError('runtime', `snapshot '${node.name}': unique_key ${keyText} is not unique in the snapshot's query: ${list.join(', ')}${dups.rows.length >= 5 ? ' …' : ''}`, {
      location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
      hint: 'Each key must appear once in the query, or the snapshot would get several current versions of a row. Deduplicate the query '
        + '(e.g. keep the latest row per key with row_number()), or configure a unique_key that is unique. The snapshot table was not changed.',
    });
  }
  const nulls = Number(Object.values((await run(nullKeysSql(spec, sql))).rows[0] ?? {})[0] ?? 0);
  if (nulls > 0) {
    services.warn?.({
      message: `snapshot '${node.name}': ${nulls} row${nulls === 1 ? ' has' : 's have'} a null unique_key ${keyText}`,
      location: node.declaredAt ?? { file: node.originalFilePath },
      hint: 'Rows with a null key never match their snapshotted version, so they are inserted again on every run. Filter them out or fix the key.',
    });
  }
}

/** Run a snapshot: create its table on the first run, else apply this run's changes atomically. */
export async function executeSnapshot(services: ExecuteServices, node: SqlNode): Promise<ExecuteOutcome> {
  const spec = snapshotSpec(node);
  const adapter = services.adapter;
  const ddl = adapter.ddl;
  // Snowflake: DDL commits by itself, but the snapshot's updates and inserts can still be one transaction.
  const transactional = (adapter.capabilities.transactionalDdl || adapter.capabilities.transactionalDml === true) && !!ddl.begin;
  const ddlInTransaction = adapter.capabilities.transactionalDdl;
  const ctx: SnapshotSqlContext = { spec, dialect: snapshotDialect(adapter.snapshot), quote: (n) => adapter.quoteIdentifier(n) };
  const rel = relationRef(node);
  const target = adapter.renderRelation(rel);
  const statements: string[] = [];
  const log: SqlLog = (sql) => statements.push(sql);
  try {
    return await adapter.withConnection(async (conn) => {
      const run = async (sql: string) => {
        log(sql);
        return conn.execute(sql);
      };
      const compileStartedAt = new Date().toISOString();
      const compiled = await services.compiler.compile(node, conn);
      const compileCompletedAt = new Date().toISOString();
      const sql = compiled.sql.trim().replace(/;\s*$/, '');
      let result: StepResult;
      try {
        await runHooks(services, conn, node, 'pre-hook', false, log);
        await runHooks(services, conn, node, 'pre-hook', true, log);
        const sourceColumns = (await run(probeSql(sql))).columns.map((c) => c.name);
        checkNamedColumns(node, spec, sourceColumns);
        await checkKeys(services, node, spec, run, sql);

        // Inside the transaction, before commit: grants/docs (adapters that have them), then post-hooks.
        const existing = await services.relations.get(rel, conn);
        const beforeCommit = async () => {
          await adapter.afterBuild?.(conn, { relation: rel, kind: 'table', config: node.config, description: node.description, columns: node.columns, fresh: !existing }, log);
          await runHooks(services, conn, node, 'post-hook', true, log);
        };
        const atomically = async (work: () => Promise<void>) => {
          if (transactional) await run(ddl.begin!());
          try {
            await work();
            // Grants (DDL) and post-hooks join the transaction only where DDL can; else they follow the commit.
            if (ddlInTransaction) await beforeCommit();
            if (transactional) await run(ddl.commit!());
          } catch (e) {
            if (transactional) await run(ddl.rollback!()).catch(() => undefined);
            services.relations.invalidate(rel.database, rel.schema);
            throw e;
          }
          if (!ddlInTransaction) await beforeCommit();
        };

        if (!existing) {
          await services.materializer.ensureSchema(conn, rel, log);
          let created: QueryResult | undefined;
          await atomically(async () => {
            created = await run(ddl.createTableAs(rel, buildSnapshotTableSql(ctx, sql), { replace: false, sqlHeader: compiled.sqlHeader, config: node.config }));
          });
          await services.relations.added(rel, 'table');
          result = { message: 'INSERT', rowsAffected: created?.rowsAffected, extra: { snapshot: 'created' } };
        } else if (existing.kind !== 'table') {
          throw new KilnError('runtime', `snapshot '${node.name}' would write to ${target}, which is a ${existing.kind.replace('_', ' ')}, not a table`, {
            location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
            hint: 'A snapshot keeps its history in a table. Drop or rename that relation, or point the snapshot elsewhere (alias, schema or target_schema).',
          });
        } else {
          result = await applyChanges(services, conn, node, ctx, { rel, target, sql, sqlHeader: compiled.sqlHeader, sourceColumns, run, atomically });
        }
        await runHooks(services, conn, node, 'post-hook', false, log);
      } catch (e) {
        throw asDatabaseError(e, node, statements[statements.length - 1], services, sql);
      }
      return { ...result, compiledCode: compiled.sql, compileStartedAt, compileCompletedAt };
    });
  } finally {
    if (statements.length) writeSnapshotRunFile(services, node, statements);
  }
}

interface ApplyInputs {
  rel: RelationRef;
  target: string;
  sql: string;
  sqlHeader?: string;
  sourceColumns: string[];
  run: (sql: string) => Promise<QueryResult>;
  atomically: (work: () => Promise<void>) => Promise<void>;
}

/** A later run: stage, then add new columns, close old versions and insert new ones in one transaction. */
async function applyChanges(services: ExecuteServices, conn: Connection, node: SqlNode, ctx: SnapshotSqlContext, io: ApplyInputs): Promise<StepResult> {
  const { adapter } = services;
  const { spec } = ctx;
  const names = spec.columns;
  const targetColumns = await adapter.getColumns(conn, io.rel);
  const have = new Set(targetColumns.map((c) => c.name.toLowerCase()));
  const missingMeta = [names.dbt_scd_id, names.dbt_valid_from, names.dbt_valid_to, names.dbt_updated_at].filter((n) => !have.has(n.toLowerCase()));
  if (missingMeta.length) {
    throw new KilnError('runtime', `${io.target} exists but is not a snapshot table of '${node.name}': it has no column${missingMeta.length === 1 ? '' : 's'} ${missingMeta.join(', ')}`, {
      location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
      hint: 'If snapshot_meta_column_names changed, rename those columns in the table to the configured names (or change the config back). '
        + 'If the table is not a snapshot, point the snapshot elsewhere or drop the table to start its history afresh.',
    });
  }

  const staging: RelationRef = { ...io.rel, identifier: suffixedName(io.rel.identifier, STAGING_SUFFIX, adapter.capabilities.maxIdentifierLength) };
  const stagingName = adapter.renderRelation(staging);
  const dropStaging = async () => {
    const found = await services.relations.get(staging, conn);
    if (found) {
      await io.run(adapter.ddl.dropRelation(staging, found.kind));
      await services.relations.dropped(staging);
    }
  };
  await dropStaging();
  try {
    await io.run(adapter.ddl.createTableAs(staging, stagingSql(ctx, io.sql, io.target, io.sourceColumns, targetColumns.map((c) => c.name)), { replace: false, sqlHeader: io.sqlHeader }));
    await services.relations.added(staging, 'table');
    const counts = new Map<string, number>();
    for (const r of (await io.run(`select ${CHANGE_TYPE} as change_type, count(*) as n from ${stagingName} group by ${CHANGE_TYPE}`)).rows) {
      counts.set(String(r.change_type ?? r.CHANGE_TYPE), Number(r.n ?? r.N));
    }
    const internal = (n: string) => n.toLowerCase() === CHANGE_TYPE || /^dbt_unique_key_\d+$/i.test(n);
    const stagedColumns = (await adapter.getColumns(conn, staging)).filter((c) => !internal(c.name));
    const added = stagedColumns.filter((c) => !have.has(c.name.toLowerCase()));
    const addColumns = async () => {
      for (const c of added) await io.run(ctx.dialect.addColumn(io.target, adapter.quoteIdentifier(c.name), c.dataType));
    };
    // Without transactional DDL, new columns are added first (an empty column is harmless if the rest fails).
    if (!adapter.capabilities.transactionalDdl) await addColumns();
    await io.atomically(async () => {
      if (adapter.capabilities.transactionalDdl) await addColumns();
      for (const stmt of ctx.dialect.mergeStatements({
        target: io.target, staging: stagingName, insertColumns: stagedColumns.map((c) => adapter.quoteIdentifier(c.name)),
        validTo: names.dbt_valid_to, scdId: names.dbt_scd_id, isCurrent: (expr) => isCurrent(spec, expr),
      })) {
        await io.run(stmt);
      }
    });
    const inserted = counts.get('insert') ?? 0;
    const closed = (counts.get('update') ?? 0) + (counts.get('delete') ?? 0);
    return {
      message: 'INSERT', rowsAffected: inserted,
      extra: { rows_inserted: inserted, rows_closed: closed, columns_added: added.map((c) => c.name).join(', ') || null },
    };
  } finally {
    await dropStaging().catch(() => services.relations.invalidate(staging.database, staging.schema));
  }
}
