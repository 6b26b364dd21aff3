/**
 * Running one data test (generic or singular): compile its query, optionally store the failing rows in the
 * audit schema, measure the failures with fail_calc and judge them against warn_if / error_if and the
 * severity. A failing test shows its first rows, and where its SQL is written to rerun by hand.
 */
import type { Connection } from '../adapter.js';
import { KilnError } from '../errors.js';
import type { SqlNode } from '../project/nodes.js';
import { formatTable } from '../table.js';
import { asDatabaseError, writeRunFile, type ExecuteServices } from './executeNode.js';
import type { SqlLog } from './materialize.js';
import type { TestOutcome } from './results.js';

/** How many failing rows a failing test prints. */
const SHOWN_ROWS = 5;

export interface TestRunOptions {
  /** --store-failures: keep every test's failing rows, unless the test's own config says otherwise. */
  storeFailures: boolean;
}

/** A config that must be text (warn_if, error_if, fail_calc), or a config error naming the test. */
function textConfig(node: SqlNode, key: string): string {
  const value = node.config[key];
  if (typeof value === 'string' && value.trim()) return value;
  if (typeof value === 'number') return String(value);
  throw new KilnError('config', `test '${node.name}' has ${key} = ${JSON.stringify(value)}; it must be SQL text such as ${key === 'fail_calc' ? "'count(*)'" : "'>10' or '!= 0'"}`, {
    location: node.declaredAt ?? { file: node.originalFilePath },
    node: node.uniqueId,
  });
}

function limitConfig(node: SqlNode): number | undefined {
  const value = node.config.limit;
  if (value === null || value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new KilnError('config', `test '${node.name}' has limit = ${JSON.stringify(value)}; it must be a whole number`, {
      location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
    });
  }
  return n;
}

function severityOf(node: SqlNode): 'error' | 'warn' {
  const s = String(node.config.severity ?? 'error').toLowerCase();
  if (s === 'error' || s === 'warn') return s;
  throw new KilnError('config', `test '${node.name}' has severity '${String(node.config.severity)}'; use error or warn`, {
    location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
  });
}

export function storesFailures(node: SqlNode, opts: TestRunOptions): boolean {
  const configured = node.config.store_failures;
  return configured === null || configured === undefined ? opts.storeFailures : configured === true;
}

/** Truthiness of a warehouse boolean (DuckDB/Postgres give booleans; some drivers 0/1 or 'true'). */
function truthy(v: unknown): boolean {
  if (typeof v === 'string') return v.toLowerCase() === 'true' || v === '1' || v.toLowerCase() === 't';
  return Boolean(v);
}

export async function executeDataTest(services: ExecuteServices, node: SqlNode, opts: TestRunOptions): Promise<TestOutcome> {
  const statements: string[] = [];
  try {
    return await services.adapter.withConnection((conn) => runTest(services, conn, node, opts, statements));
  } finally {
    if (statements.length) writeRunFile(services, node, statements);
  }
}

async function runTest(services: ExecuteServices, conn: Connection, node: SqlNode, opts: TestRunOptions, statements: string[]): Promise<TestOutcome> {
  const log: SqlLog = (sql) => statements.push(sql);
  const severity = severityOf(node);
  const failCalc = textConfig(node, 'fail_calc');
  const warnIf = textConfig(node, 'warn_if');
  const errorIf = textConfig(node, 'error_if');
  const limit = limitConfig(node);
  const compiled = await services.compiler.compile(node, conn);
  const compiledPath = services.compiler.compiledPathFor(node);
  const limited = limit === undefined ? compiled.sql : `select * from (\n${compiled.sql}\n) dbt_limit_subq\nlimit ${limit}`;

  let mainSql = limited;
  let storedIn: string | undefined;
  try {
    if (storesFailures(node, opts)) {
      const kind = String(node.config.store_failures_as ?? 'table');
      if (kind !== 'table' && kind !== 'view') {
        throw new KilnError('config', `test '${node.name}' has store_failures_as '${kind}'; use table or view`, {
          location: node.declaredAt ?? { file: node.originalFilePath }, node: node.uniqueId,
        });
      }
      await services.materializer.fromSelect(conn, kind, node.relation, limited, { sqlHeader: compiled.sqlHeader }, log);
      storedIn = services.adapter.renderRelation(node.relation);
      mainSql = `select * from ${storedIn}`;
    }
    const testSql = String(services.parsed.renderer.callMacro('get_test_sql', [mainSql, failCalc, warnIf, errorIf, null], services.parsed.identityOf(node), 'execute'));
    log(testSql);
    const result = await conn.execute(testSql);
    const row = result.rows[0] ?? {};
    const failures = Number(row.failures ?? 0);
    const shouldWarn = truthy(row.should_warn);
    const shouldError = truthy(row.should_error);
    const status: TestOutcome['status'] = severity === 'error' && shouldError ? 'fail' : shouldWarn ? 'warn' : 'pass';
    const outcome: TestOutcome = {
      status, failures: Number.isFinite(failures) ? failures : 0,
      message: status === 'pass' ? 'PASS' : `${status.toUpperCase()} ${failures}`,
      compiledCode: compiled.sql, compiledPath,
    };
    if (status !== 'pass') outcome.detail = await failingRowsDetail(conn, mainSql, failures, compiledPath, storedIn);
    return outcome;
  } catch (e) {
    throw asDatabaseError(e, node, statements[statements.length - 1], services, compiled.sql);
  }
}

/** The first failing rows as a table, and how to see them all. */
async function failingRowsDetail(
  conn: Connection, mainSql: string, failures: number, compiledPath: string, storedIn: string | undefined,
): Promise<string> {
  const lines: string[] = [];
  try {
    const sample = await conn.execute(`select * from (\n${mainSql}\n) kiln_failing_rows\nlimit ${SHOWN_ROWS}`);
    if (sample.rows.length) {
      const columns = sample.columns.map((c) => c.name);
      lines.push(formatTable(columns, sample.rows));
      if (failures > sample.rows.length) lines.push(`(first ${sample.rows.length} rows)`);
    }
  } catch {
    // The rows are a courtesy; the verdict above stands even if they cannot be shown.
  }
  lines.push(storedIn ? `Failing rows are stored in ${storedIn}.` : `See them all with the SQL in ${compiledPath}.`);
  return lines.join('\n');
}
