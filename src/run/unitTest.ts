/**
 * Running one unit test: the model under test is compiled with each given input replaced by a CTE of the
 * given rows (typed from the real input relation when it exists), run on the target, and its rows compared
 * with the expected rows as multisets on the columns `expect` names. The SQL that ran is written to
 * target/run/<package>/<yml path>/<test name>.sql, to rerun by hand.
 */
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Adapter, ColumnInfo, Connection, QueryResult } from '../adapter.js';
import { KilnError } from '../errors.js';
import type { SeedNode, SourceNode, SqlNode, UnitTestInput, UnitTestNode } from '../project/nodes.js';
import { describeInput, parseInput, unitTestRunFile, type ParsedInput } from '../project/unitTests.js';
import { writeStatements, type ExecuteServices } from './executeNode.js';
import type { TestOutcome } from './results.js';
import { diffRows, formatDiff } from './unitTestDiff.js';
import {
  columnsFromValues, findColumn, fixtureSelect, normalizeRows, rowKeys, type FixtureColumn,
} from './unitTestFixtures.js';

const ACTUAL_CTE = 'dbt_internal_unit_test_actual';
const EXPECTED_CTE = 'dbt_internal_unit_test_expected';
const WHICH = 'actual_or_expected';

/** The SQL inside a subquery: no trailing semicolon, and a newline so a trailing `-- comment` ends. */
function asSubquery(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

/** First line of a warehouse error, without DuckDB/Postgres "LINE n:" and caret lines. */
function firstLine(e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  return message.split('\n').filter((l) => l.trim() && !/^LINE \d+:/.test(l) && !/^\s*\^\s*$/.test(l)).join(' ').replace(/\s+/g, ' ');
}

interface Fixture {
  key: string;
  cte: string;
  sql: string;
}


/** The adapter's string literals where it has its own escaping (BigQuery), else standard SQL's. */
function literalFor(adapter: Adapter): ((s: string) => string) | undefined {
  return adapter.stringLiteral ? (v) => adapter.stringLiteral!(v) : undefined;
}

export async function executeUnitTest(services: ExecuteServices, test: UnitTestNode, model: SqlNode): Promise<TestOutcome> {
  const { adapter, parsed } = services;
  const runFile = join(services.runDir, unitTestRunFile(test));
  const displayPath = relative(parsed.project.dir, runFile).split(sep).join('/');
  const statements: string[] = [];
  const what = `unit test '${test.name}' of model '${model.name}'`;

  /** Run a statement; a `probe` (a zero-row query for column types) is written to the run file only if it fails. */
  const run = async (conn: Connection, sql: string, probe = false): Promise<QueryResult> => {
    if (!probe) statements.push(sql);
    try {
      return await conn.execute(sql);
    } catch (e) {
      if (probe) statements.push(sql);
      throw new KilnError('database', `${what} failed in ${adapter.type}: ${firstLine(e)}`, {
        location: test.location,
        node: test.uniqueId,
        hint: `The SQL that ran is in ${displayPath}; run it by hand to see the error in context.`,
      });
    }
  };

  try {
    return await adapter.withConnection(async (conn) => {
      const fixtures: Fixture[] = [];
      for (const g of test.given) fixtures.push(await buildFixture(services, conn, test, model, g));
      const byKey = new Map(fixtures.map((f) => [f.key, f]));
      const missing = (input: ParsedInput): never => {
        throw new KilnError('config', `${what} gives no input for ${describeInput(input)}, which the model reads`, {
          location: test.location,
          node: test.uniqueId,
          hint: `Add \`- input: ${describeInput(input)}\` with its rows under given: (\`rows: []\` for an empty input).`,
        });
      };

      const compiled = await services.compiler.compileWithInputs(model, {
        ref: (call, target) => byKey.get(target.uniqueId)?.cte ?? missing({ kind: 'ref', ref: call }),
        source: (s, t, src) => byKey.get(src.uniqueId)?.cte ?? missing({ kind: 'source', source: s, table: t }),
        this: byKey.get('this')?.cte,
        ctes: fixtures.map((f) => ({ name: f.cte, sql: f.sql })),
        overrides: { vars: test.overrides.vars, envVars: test.overrides.envVars, macros: test.overrides.macros },
        isIncremental: false,
        connection: conn,
      });
      if (compiled.sqlHeader) await run(conn, compiled.sqlHeader);
      const modelSql = asSubquery(compiled.sql);

      // The model's output columns and their types, without running it for rows.
      const outputColumns = (await run(conn, `select * from (\n${modelSql}\n) as ${ACTUAL_CTE} where false limit 0`, true)).columns;

      const expected = await expectedSql(services, conn, test, model, outputColumns, run);
      const columns = expected.columns;
      const q = (n: string) => adapter.quoteIdentifier(n);
      const list = columns.map(q).join(', ');
      const sql = [
        `-- ${what} (${test.originalFilePath})`,
        `with ${ACTUAL_CTE} as (`,
        `  select ${list}, 'actual' as ${q(WHICH)} from (\n${modelSql}\n  ) as _${ACTUAL_CTE}`,
        `),`,
        `${EXPECTED_CTE} as (`,
        `  select ${list}, 'expected' as ${q(WHICH)} from (\n${expected.sql}\n  ) as _${EXPECTED_CTE}`,
        `)`,
        `select * from ${ACTUAL_CTE}`,
        `union all`,
        `select * from ${EXPECTED_CTE}`,
      ].join('\n');
      const result = await run(conn, sql);
      const whichKey = result.columns.find((c) => c.name.toLowerCase() === WHICH)?.name ?? WHICH;
      const names = result.columns.filter((c) => c.name !== whichKey).map((c) => c.name);
      const pick = (r: Record<string, unknown>) => Object.fromEntries(names.map((n) => [n, r[n]]));
      const actualRows = result.rows.filter((r) => r[whichKey] === 'actual').map(pick);
      const expectedRows = result.rows.filter((r) => r[whichKey] === 'expected').map(pick);
      const diff = diffRows(names, actualRows, expectedRows);
      const failures = diff.missing.length + diff.unexpected.length;
      const base = { compiledCode: sql, compiledPath: displayPath };
      if (failures === 0) return { status: 'pass', failures: 0, message: 'PASS', ...base };
      return { status: 'fail', failures, message: `FAIL ${failures}`, detail: formatDiff(diff), ...base };
    });
  } finally {
    if (statements.length) writeStatements(runFile, statements);
  }
}

/** The input's node and the relation its real rows are in (none for an ephemeral model). */
function resolveInput(
  services: ExecuteServices, test: UnitTestNode, model: SqlNode, g: UnitTestInput, input: ParsedInput,
): { key: string; name: string; node?: SqlNode | SeedNode | SourceNode; relation?: { database?: string; schema: string; identifier: string } } {
  const { parsed } = services;
  const location = g.location ?? test.location;
  if (input.kind === 'this') {
    return { key: 'this', name: 'this', node: model, relation: model.config.materialized === 'ephemeral' ? undefined : model.relation };
  }
  if (input.kind === 'source') {
    const src = parsed.lookupSource(input.source, input.table, model.packageName);
    if (!src) {
      throw new KilnError('config', `unit test '${test.name}' gives ${describeInput(input)}, which is not a defined source`, {
        location, node: test.uniqueId, hint: 'Check the source and table names under sources: in schema YAML.',
      });
    }
    return { key: src.uniqueId, name: `${input.source}__${input.table}`, node: src, relation: src.relation };
  }
  const target = parsed.lookupRef(input.ref, model.packageName);
  if (!target) {
    throw new KilnError('config', `unit test '${test.name}' gives ${describeInput(input)}, which is not a model or seed in this project`, {
      location, node: test.uniqueId, hint: 'Check the name in input:.',
    });
  }
  const ephemeral = target.resourceType !== 'seed' && target.config.materialized === 'ephemeral';
  const name = target.resourceType !== 'seed' && target.version !== undefined ? `${target.name}_v${String(target.version)}` : target.name;
  return { key: target.uniqueId, name, node: target, relation: ephemeral ? undefined : target.relation };
}

/** A seed given without rows or fixture stands for the seed file's own rows (dbt 1.9+). */
function seedRows(seed: SeedNode): Record<string, unknown>[] {
  const records = parseCsv(readFileSync(seed.absPath, 'utf8'), {
    bom: true, relax_quotes: true, skip_empty_lines: true, delimiter: String(seed.config.delimiter ?? ','),
  }) as string[][];
  const header = (records[0] ?? []).map((h) => h.trim());
  return records.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

async function buildFixture(services: ExecuteServices, conn: Connection, test: UnitTestNode, model: SqlNode, g: UnitTestInput): Promise<Fixture> {
  const { adapter } = services;
  const input = parseInput(g.input);
  const location = g.location ?? test.location;
  if (!input) {
    throw new KilnError('config', `input '${g.input}' of unit test '${test.name}' is not a ref(), source() or this`, { location, node: test.uniqueId });
  }
  const resolved = resolveInput(services, test, model, g, input);
  const cte = `__dbt__cte__${resolved.name.replace(/\W/g, '_')}`;
  const what = `input ${describeInput(input)} of unit test '${test.name}'`;
  if (g.format === 'sql') return { key: resolved.key, cte, sql: asSubquery(g.sql ?? '') };

  let format: 'dict' | 'csv' = g.format;
  let rawRows = g.rows;
  if (rawRows === undefined) {
    if (resolved.node?.resourceType !== 'seed') {
      throw new KilnError('config', `${what} has no rows`, {
        location, node: test.uniqueId, hint: 'Add `rows:` (`rows: []` for an empty input) or `fixture:`; only a seed may be given without rows (its file is used).',
      });
    }
    rawRows = seedRows(resolved.node);
    format = 'csv';
  }
  const rows = normalizeRows(rawRows, format);
  const real: ColumnInfo[] = resolved.relation ? await adapter.getColumns(conn, resolved.relation) : [];
  let columns: FixtureColumn[];
  if (real.length > 0) {
    const unknown = rowKeys(rows).filter((k) => !findColumn(real, k));
    if (unknown.length) {
      throw new KilnError('config', `${what} has column${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `'${k}'`).join(', ')}, which ${adapter.renderRelation(resolved.relation!)} does not have`, {
        location, node: test.uniqueId, hint: `Its columns are: ${real.map((c) => c.name).join(', ')}.`,
      });
    }
    columns = real.map((c) => ({ name: c.name, type: c.dataType }));
  } else {
    columns = columnsFromValues(rows, format, (t, stats) => adapter.seedType(t, stats));
    // Columns the input's YAML declares and no row mentions are NULL, typed by data_type when it has one.
    for (const c of resolved.node?.columns ?? []) {
      if (!findColumn(columns, c.name)) columns.push({ name: c.name, type: c.dataType ?? adapter.seedType('text', { maxByteLength: 0, maxScale: 0 }) });
    }
    if (columns.length === 0) {
      throw new KilnError('config', `${what} has no rows and its relation is not in the warehouse, so its columns are unknown`, {
        location, node: test.uniqueId,
        hint: 'Build the input first (kiln run), give at least one row, or use format: sql with a select that lists the columns.',
      });
    }
  }
  return { key: resolved.key, cte, sql: fixtureSelect(rows, columns, (n) => adapter.quoteIdentifier(n), literalFor(adapter)) };
}

/**
 * The expected rows as SQL and the columns compared: the columns `expect` names (matched to the model's
 * output case-insensitively), every output column when it names none; values cast to the output types.
 */
async function expectedSql(
  services: ExecuteServices, conn: Connection, test: UnitTestNode, model: SqlNode, output: ColumnInfo[],
  run: (conn: Connection, sql: string, probe?: boolean) => Promise<QueryResult>,
): Promise<{ sql: string; columns: string[] }> {
  const { adapter } = services;
  const expect = test.expect;
  const location = expect.location ?? test.location;
  const notInOutput = (names: string[]) => new KilnError('config',
    `the expected rows of unit test '${test.name}' name column${names.length === 1 ? '' : 's'} ${names.map((k) => `'${k}'`).join(', ')}, which model '${model.name}' does not return`, {
      location, node: test.uniqueId, hint: `Model '${model.name}' returns: ${output.map((c) => c.name).join(', ')}.`,
    });
  if (expect.format === 'sql') {
    const sql = asSubquery(expect.sql ?? '');
    const own = (await run(conn, `select * from (\n${sql}\n) as ${EXPECTED_CTE} where false limit 0`, true)).columns;
    const unknown = own.filter((c) => !findColumn(output, c.name)).map((c) => c.name);
    if (unknown.length) throw notInOutput(unknown);
    return { sql, columns: own.map((c) => findColumn(output, c.name)!.name) };
  }
  const rows = normalizeRows(expect.rows ?? [], expect.format);
  const keys = rowKeys(rows);
  const unknown = keys.filter((k) => !findColumn(output, k));
  if (unknown.length) throw notInOutput(unknown);
  const columns = keys.length ? keys.map((k) => findColumn(output, k)!) : output;
  const typed = columns.map((c) => ({ name: c.name, type: c.dataType }));
  const quote = (n: string) => adapter.quoteIdentifier(n);
  const sql = fixtureSelect(rows, typed, quote, literalFor(adapter));
  return { sql, columns: columns.map((c) => c.name) };
}
