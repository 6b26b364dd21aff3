/**
 * Running one node: compile, pre-hooks, materialize, post-hooks; the SQL that ran goes to target/run/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Adapter, Connection, RelationRef } from '../adapter.js';
import { compiledFileOf, type NodeCompiler } from '../compile/compileNode.js';
import type { RelationCache } from '../compile/relationCache.js';
import type { ParsedProject } from '../compile/parse.js';
import { KilnError, type Warning } from '../errors.js';
import { contractSpec } from '../project/contracts.js';
import type { SeedNode, SqlNode } from '../project/nodes.js';
import { assertContract, buildWithContract } from './contracts.js';
import { buildIncremental, needsFullBuild } from './incremental.js';
import type { Materializer, SqlLog, StepResult } from './materialize.js';
import { inspectSeed } from './seedTypes.js';

export interface ExecuteServices {
  parsed: ParsedProject;
  adapter: Adapter;
  relations: RelationCache;
  compiler: NodeCompiler;
  materializer: Materializer;
  runDir: string;
  /** How many nodes run at once (the connection pool's size). */
  threads?: number;
  /** Non-fatal findings while building a node (constraints a warehouse will not enforce); the reporter's warn. */
  warn?: (warning: Warning) => void;
}

export interface ExecuteOutcome extends StepResult {
  compiledCode?: string;
  compileStartedAt: string;
  compileCompletedAt: string;
}

/** A hook as written: a string, or {sql, transaction}. */
export function hookSql(hook: unknown): string {
  if (typeof hook === 'string') return hook;
  if (hook && typeof hook === 'object' && 'sql' in hook) return String((hook as { sql: unknown }).sql);
  return '';
}

/** The statements that ran, one per paragraph, in a file under target/run/ (to read or rerun by hand). */
export function writeStatements(file: string, statements: readonly string[]): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, statements.map((s) => `${s.trim()};`).join('\n\n') + '\n');
}

/** target/run/<package>/<file>: a seed's as .sql, a generic test's under its YAML file (as compiled SQL is). */
export function writeRunFile(services: ExecuteServices, node: SqlNode | SeedNode, statements: readonly string[]): void {
  writeStatements(join(services.runDir, node.packageName, compiledFileOf(node).replace(/\.csv$/, '.sql')), statements);
}

/** A hook runs inside the build's transaction unless written as {sql: …, transaction: false} (dbt's rule). */
function inTransaction(hook: unknown): boolean {
  return !(hook && typeof hook === 'object' && (hook as { transaction?: unknown }).transaction === false);
}

/**
 * Run a node's pre- or post-hooks (those inside or outside the transaction), on the node's own connection
 * so warehouse calls inside the hook share its session. Hooks may run DDL, so the node's schema is
 * forgotten by the relation cache afterwards.
 */
export async function runHooks(
  services: ExecuteServices, conn: Connection, node: SqlNode | SeedNode, key: 'pre-hook' | 'post-hook', transactional: boolean, log: SqlLog,
): Promise<void> {
  const hooks = ((node.config[key] as unknown[]) ?? []).filter((h) => inTransaction(h) === transactional);
  if (hooks.length === 0) return;
  const resolvers = services.compiler.resolversFor(node as SqlNode);
  const identity = { ...services.parsed.identityOf(node), connection: conn };
  for (const [i, hook] of hooks.entries()) {
    const sql = (await services.parsed.renderer.renderString(hookSql(hook), identity, resolvers, `${key} ${i + 1} of '${node.name}'`)).trim();
    if (!sql) continue;
    log(sql);
    try {
      await conn.execute(sql);
    } catch (e) {
      throw new KilnError('database', `${key} ${i + 1} of ${node.resourceType} '${node.name}' failed: ${(e as Error).message}`, {
        location: (node.resourceType !== 'seed' ? node.declaredAt : undefined) ?? { file: node.originalFilePath },
        node: node.uniqueId,
        hint: `The hook's SQL was:\n    ${sql.split('\n').join('\n    ')}`,
      });
    }
  }
  services.relations.invalidate(node.relation.database, node.relation.schema);
}

/**
 * Build a node between its hooks: pre-hooks first; post-hooks inside the swap's transaction, so a failing
 * post-hook rolls the new relation back (where DDL is transactional); hooks marked transaction: false
 * run before and after.
 */
/** Work before the build commits (afterBuild, post-hooks); `fresh: false` when rows went into an existing table. */
export type AfterBuild = (o?: { fresh?: boolean }) => Promise<void>;

export async function withHooks(
  services: ExecuteServices, conn: Connection, node: SqlNode | SeedNode, log: SqlLog,
  build: (beforeCommit: AfterBuild) => Promise<StepResult>,
): Promise<StepResult> {
  await runHooks(services, conn, node, 'pre-hook', false, log);
  await runHooks(services, conn, node, 'pre-hook', true, log);
  const result = await build(async (o) => {
    // Grants, comments, indexes (adapters that have them): inside the swap's transaction, before post-hooks.
    await services.adapter.afterBuild?.(conn, {
      relation: relationRef(node), kind: node.resourceType !== 'seed' && node.config.materialized === 'view' ? 'view' : 'table',
      config: node.config, description: node.description, columns: node.columns, fresh: o?.fresh ?? true,
    }, log);
    await runHooks(services, conn, node, 'post-hook', true, log);
  });
  await runHooks(services, conn, node, 'post-hook', false, log);
  return result;
}

export function relationRef(node: SqlNode | SeedNode): RelationRef {
  return { database: node.relation.database, schema: node.relation.schema, identifier: node.relation.identifier };
}

/** Materialize a model (view, table, ephemeral). */
export async function executeModel(services: ExecuteServices, node: SqlNode): Promise<ExecuteOutcome> {
  const materialized = String(node.config.materialized);
  const statements: string[] = [];
  const log: SqlLog = (sql) => statements.push(sql);
  // An enforced contract is checked (columns typed, constraints well-formed) before anything runs.
  const contract = contractSpec(node);
  try {
    return await services.adapter.withConnection(async (conn) => {
      // Compiled on the connection it is built on: execute-time queries share the build's session.
      const compileStartedAt = new Date().toISOString();
      const compiled = await services.compiler.compile(node, conn);
      const compileCompletedAt = new Date().toISOString();
      if (materialized === 'ephemeral') {
        return { message: 'EPHEMERAL', compiledCode: compiled.sql, compileStartedAt, compileCompletedAt };
      }
      const sql = compiled.sql;
      let result: StepResult;
      try {
        const opts = { sqlHeader: compiled.sqlHeader, config: node.config };
        const target = relationRef(node);
        if (materialized === 'incremental') {
          result = await withHooks(services, conn, node, log, async (beforeCommit) => {
            if (contract && await needsFullBuild(services, conn, node, target)) {
              return buildWithContract(services, conn, node, contract, 'table', target, sql, { ...opts, beforeCommit }, log);
            }
            if (contract) await assertContract(services.adapter, conn, node, contract, sql, opts.sqlHeader, log);
            return buildIncremental(services, conn, node, target, sql, { ...opts, beforeCommit }, log);
          });
        } else if (materialized === 'view' || materialized === 'table') {
          result = await withHooks(services, conn, node, log, (beforeCommit) => contract
            ? buildWithContract(services, conn, node, contract, materialized, target, sql, { ...opts, beforeCommit }, log)
            : services.materializer.fromSelect(conn, materialized, target, sql, { ...opts, beforeCommit }, log));
        } else {
          throw new KilnError('compile', `materialization '${materialized}' is not available in this version of Kiln`, {
            location: { file: node.originalFilePath },
            node: node.uniqueId,
            hint: 'Use view, table, incremental or ephemeral.',
          });
        }
      } catch (e) {
        throw asDatabaseError(e, node, statements[statements.length - 1], services, sql);
      }
      return { ...result, compiledCode: compiled.sql, compileStartedAt, compileCompletedAt };
    });
  } finally {
    if (statements.length) writeRunFile(services, node, statements);
  }
}

/** Load a seed CSV into a fresh table and swap it in. */
export async function executeSeed(services: ExecuteServices, node: SeedNode): Promise<ExecuteOutcome> {
  const compileStartedAt = new Date().toISOString();
  const delimiter = String(node.config.delimiter ?? ',');
  const table = inspectSeed(node.absPath, node.originalFilePath, delimiter);
  const overrides = (node.config.column_types as Record<string, string>) ?? {};
  const lowerOverrides = new Map(Object.entries(overrides).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of Object.keys(overrides)) {
    if (!table.columns.some((c) => c.name.toLowerCase() === name.toLowerCase())) {
      throw new KilnError('config', `column_types names '${name}', which is not a column of seed '${node.name}'`, {
        location: { file: node.patchPath ?? node.originalFilePath },
        hint: `Seed columns: ${table.columns.map((c) => c.name).join(', ')}.`,
      });
    }
  }
  const columns = table.columns.map((c) => ({
    name: c.name,
    type: c.type,
    nativeType: lowerOverrides.get(c.name.toLowerCase()) ?? services.adapter.seedType(c.type, c.stats),
  }));
  const quoteColumns = typeof node.config.quote_columns === 'boolean' ? node.config.quote_columns : services.adapter.quoteSeedColumnsByDefault;
  const compileCompletedAt = new Date().toISOString();
  const statements: string[] = [];
  const log: SqlLog = (sql) => statements.push(sql);
  try {
    return await services.adapter.withConnection(async (conn) => {
      let result: StepResult;
      try {
        result = await withHooks(services, conn, node, log, (beforeCommit) => services.materializer.replace(conn, relationRef(node), {
          kind: 'table',
          singleStatement: false,
          beforeCommit,
          build: async (rel) => {
            const create = services.adapter.ddl.createTable(rel, columns.map((c) => ({ name: c.name, type: c.nativeType })), quoteColumns, { config: node.config });
            log(create);
            await conn.execute(create);
            log(`-- load ${node.originalFilePath} (${table.rowCount} rows)`);
            return services.adapter.loadSeed(conn, rel, { path: node.absPath, delimiter, rowCount: table.rowCount, columns, quoteColumns });
          },
        }, log));
      } catch (e) {
        throw asDatabaseError(e, node, statements[statements.length - 1], services);
      }
      return { ...result, compileStartedAt, compileCompletedAt };
    });
  } finally {
    if (statements.length) writeRunFile(services, node, statements);
  }
}

/** A warehouse error, naming the model, its compiled file and the line in it when the warehouse says. */
export function asDatabaseError(e: unknown, node: SqlNode | SeedNode, statement: string | undefined, services: ExecuteServices, compiledSql?: string): KilnError {
  if (e instanceof KilnError) return e;
  const message = (e as Error).message ?? String(e);
  const compiledPath = services.compiler.compiledPathFor(node);
  const file = node.resourceType === 'seed' ? node.originalFilePath : compiledPath;
  // The warehouse counts lines in the statement it got; the compiled SQL starts a few lines into it.
  const lineMatch = /LINE (\d+):/.exec(message) ?? /at line (\d+)/i.exec(message);
  let line: number | undefined;
  if (lineMatch && node.resourceType !== 'seed' && statement && compiledSql) {
    const at = statement.indexOf(compiledSql);
    const offset = at >= 0 ? statement.slice(0, at).split('\n').length - 1 : 0;
    line = Math.max(1, Number(lineMatch[1]) - offset);
  }
  // DuckDB/Postgres append "LINE n: <sql>" and a caret line; the position is reported as file:line instead.
  const firstLine = message.split('\n').filter((l) => l.trim() && !/^LINE \d+:/.test(l) && !/^\s*\^\s*$/.test(l)).join(' ').replace(/\s+/g, ' ');
  return new KilnError('database', `${node.resourceType} '${node.name}' failed in ${services.adapter.type}: ${firstLine}`, {
    location: { file, line },
    node: node.uniqueId,
    hint: node.resourceType === 'seed'
      ? 'Check the CSV values against the column types (set column_types to override inference).'
      : `Fix the ${node.resourceType === 'test' ? 'test' : node.resourceType} (${node.originalFilePath}); the SQL as sent is in ${compiledPath}.`,
  });
}
