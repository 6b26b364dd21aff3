/**
 * Building a model under an enforced contract (dbt semantics):
 *
 * 1. Before anything is replaced, the model's SQL runs as `select * from (<sql>) as __kiln_sbq where false
 *    limit 0` and the columns the warehouse reports are compared with the YAML `columns:` — names without
 *    regard to case, types through the adapter's {@link Adapter.typesMatch}. Any difference fails the model
 *    with a table of expected against actual.
 * 2. A table is created empty with the YAML columns in YAML order, their types and the constraints the
 *    adapter can declare, then filled by `insert into … (cols) select cols from (<sql>)`, all under the
 *    materializer's temporary name, so a constraint violation leaves the previous table in place.
 * 3. A view gets the column check only; constraints cannot apply to a view (one warning per model).
 *
 * Constraints the warehouse does not enforce are declared anyway and warned about; those it does not
 * support are left out and warned about (`warn_unenforced: false` / `warn_unsupported: false` silence it).
 *
 * @example
 * const contract = contractSpec(node);               // project/contracts.ts: undefined when not enforced
 * if (contract) await buildWithContract(services, conn, node, contract, 'table', target, sql, {}, log);
 */
import type { Adapter, ColumnInfo, ConstraintDdl, Connection, NodeConfigView, RelationRef, TableColumnDef } from '../adapter.js';
import type { NodeCompiler } from '../compile/compileNode.js';
import { KilnError, type Warning } from '../errors.js';
import { contractLocation, type ConstraintSpec, type ContractSpec } from '../project/contracts.js';
import type { SqlNode } from '../project/nodes.js';
import { formatTable } from '../table.js';
import type { Materializer, SqlLog, StepResult } from './materialize.js';

/** What the contract step needs from the run (ExecuteServices has all of it). */
export interface ContractServices {
  adapter: Adapter;
  compiler: Pick<NodeCompiler, 'resolversFor'>;
  materializer: Materializer;
  warn?: (warning: Warning) => void;
}

export type ColumnProblem = 'missing' | 'extra' | 'type mismatch';

/** One difference between the contract and the model's SQL. */
export interface ColumnMismatch {
  column: string;
  /** The YAML data_type (missing for an extra column). */
  expected?: string;
  /** The type the warehouse reports for the SQL's column (missing for a missing column). */
  actual?: string;
  problem: ColumnProblem;
}

/**
 * Compare the contract's columns with the query's: YAML order first (missing and mismatched columns), then
 * columns only the SQL returns. Names compare without regard to case.
 *
 * @example
 * compareColumns(adapter, [{ name: 'id', dataType: 'int' }], [{ name: 'ID', dataType: 'VARCHAR' }])
 * // [{ column: 'id', expected: 'int', actual: 'VARCHAR', problem: 'type mismatch' }]
 */
export function compareColumns(
  adapter: Pick<Adapter, 'typesMatch'>, expected: readonly { name: string; dataType: string }[], actual: readonly ColumnInfo[],
): ColumnMismatch[] {
  const byName = new Map(actual.map((c) => [c.name.toLowerCase(), c]));
  const declared = new Set(expected.map((c) => c.name.toLowerCase()));
  const out: ColumnMismatch[] = [];
  for (const e of expected) {
    const a = byName.get(e.name.toLowerCase());
    if (!a) out.push({ column: e.name, expected: e.dataType, problem: 'missing' });
    else if (!adapter.typesMatch(e.dataType, a.dataType)) out.push({ column: e.name, expected: e.dataType, actual: a.dataType, problem: 'type mismatch' });
  }
  for (const a of actual) {
    if (!declared.has(a.name.toLowerCase())) out.push({ column: a.name, actual: a.dataType, problem: 'extra' });
  }
  return out;
}

const PROBLEM_WORDS: Record<ColumnProblem, string> = {
  missing: 'missing (not returned by the SQL)',
  extra: 'extra (not in the YAML)',
  'type mismatch': 'type mismatch',
};

/** The expected-vs-actual table printed when a contract fails. */
export function formatMismatches(mismatches: readonly ColumnMismatch[]): string {
  return formatTable(['column', 'expected (YAML)', 'actual (SQL)', 'problem'], mismatches.map((m) => ({
    column: m.column,
    'expected (YAML)': m.expected ?? '-',
    'actual (SQL)': m.actual ?? '-',
    problem: PROBLEM_WORDS[m.problem],
  })));
}

/** `1 column missing, 2 extra columns, 1 column of another type` */
function summarize(mismatches: readonly ColumnMismatch[]): string {
  const n = (p: ColumnProblem) => mismatches.filter((m) => m.problem === p).length;
  const parts: string[] = [];
  const missing = n('missing');
  const extra = n('extra');
  const typed = n('type mismatch');
  if (missing) parts.push(`${missing} column${missing === 1 ? '' : 's'} missing`);
  if (extra) parts.push(`${extra} extra column${extra === 1 ? '' : 's'}`);
  if (typed) parts.push(`${typed} column${typed === 1 ? '' : 's'} of another type`);
  return parts.join(', ');
}

/**
 * Run the model's SQL for its column names and types only, and fail unless they match the contract.
 * `sqlHeader` runs first on the same connection (the SQL may need what it sets up).
 */
export async function assertContract(
  adapter: Adapter, conn: Connection, node: SqlNode, contract: ContractSpec, sql: string, sqlHeader: string | undefined, log: SqlLog,
): Promise<void> {
  if (sqlHeader?.trim()) {
    log(sqlHeader.trim());
    await conn.execute(sqlHeader);
  }
  const probe = `select * from (\n${sql}\n) as __kiln_sbq where false limit 0`;
  log(probe);
  const result = await conn.execute(probe);
  const mismatches = compareColumns(adapter, contract.columns, result.columns);
  if (mismatches.length === 0) return;
  throw new KilnError('runtime', `model '${node.name}' does not match its enforced contract: ${summarize(mismatches)}; nothing was replaced`, {
    location: contractLocation(node),
    node: node.uniqueId,
    // Continuation lines carry the hint's own indent (KilnError.format indents only the first line).
    hint: [formatMismatches(mismatches), `Make the SQL (${node.originalFilePath}) return exactly the YAML's columns and types (cast where needed), or change the YAML.`]
      .join('\n').split('\n').join('\n  '),
  });
}

/** The constraints as the adapter will create them, and what to warn about. */
export interface ConstraintPlan {
  columns: TableColumnDef[];
  /** Table-level constraint clauses. */
  constraints: string[];
  warnings: Warning[];
}

const REF_CALL = /^\s*(ref|source)\s*\(\s*(.*?)\s*\)\s*$/s;
const STRING_ARG = /^(['"])(.*)\1$/s;

/**
 * `to:` of a foreign key as SQL: `ref('m')`, `ref('pkg', 'm')`, `ref('m', v=2)` and `source('s', 't')`
 * resolve through the compiler; anything else is taken as a relation name written in SQL.
 */
export function resolveConstraintTarget(compiler: ContractServices['compiler'], node: SqlNode, to: string): string {
  const m = REF_CALL.exec(to);
  if (!m) return to.trim();
  const args = m[2].split(',').map((a) => a.trim()).filter(Boolean);
  const positional: string[] = [];
  let version: string | undefined;
  for (const a of args) {
    const kw = /^(v|version)\s*=\s*(.+)$/.exec(a);
    if (kw) {
      version = kw[2].replace(STRING_ARG, '$2');
      continue;
    }
    const s = STRING_ARG.exec(a);
    if (!s) {
      throw new KilnError('config', `foreign key 'to: ${to}' of model '${node.name}' has an argument that is not a quoted name: ${a}`, {
        location: contractLocation(node), node: node.uniqueId, hint: "Write it as to: ref('customers') or to: source('raw', 'customers').",
      });
    }
    positional.push(s[2]);
  }
  const resolvers = compiler.resolversFor(node);
  if (m[1] === 'source') {
    if (positional.length !== 2) {
      throw new KilnError('config', `foreign key 'to: ${to}' of model '${node.name}' needs a source name and a table name`, {
        location: contractLocation(node), node: node.uniqueId, hint: "Write it as to: source('raw', 'customers').",
      });
    }
    return resolvers.source(positional[0], positional[1]).render();
  }
  if (positional.length < 1 || positional.length > 2) {
    throw new KilnError('config', `foreign key 'to: ${to}' of model '${node.name}' needs a model name`, {
      location: contractLocation(node), node: node.uniqueId, hint: "Write it as to: ref('customers').",
    });
  }
  const [pkg, name] = positional.length === 2 ? positional : [undefined, positional[0]];
  return resolvers.ref({ name, package: pkg, version }).render();
}

function describeConstraint(node: SqlNode, c: ConstraintSpec, column?: string): string {
  if (column) return `${node.name}.${column}`;
  return c.columns?.length ? `${node.name}(${c.columns.join(', ')})` : node.name;
}

/**
 * Turn the contract's constraints into DDL clauses the adapter writes, keeping those it cannot declare
 * out and collecting warnings for what it will not enforce (dbt's rule: `custom` is written as given,
 * never warned about). A model-level not_null becomes a not null on each of its columns.
 */
export function planConstraints(services: ContractServices, node: SqlNode, contract: ContractSpec): ConstraintPlan {
  const { adapter } = services;
  const support = adapter.capabilities.constraintSupport;
  const warnings: Warning[] = [];
  const location = contractLocation(node);
  const keep = (c: ConstraintSpec, column?: string): boolean => {
    if (c.type === 'custom') return true;
    const level = support[c.type];
    const note = adapter.capabilities.constraintNotes?.[c.type];
    const silence = level === 'not_supported' ? 'warn_unsupported' : 'warn_unenforced';
    const hint = `${note ? `${note} ` : ''}Set ${silence}: false on the constraint to silence this.`;
    if (level === 'not_supported' && c.warnUnsupported) {
      warnings.push({ message: `constraint ${c.type} on ${describeConstraint(node, c, column)} is not supported by ${adapter.type}; it is left out of the table`, location, hint });
    } else if (level === 'not_enforced' && c.warnUnenforced) {
      warnings.push({ message: `constraint ${c.type} on ${describeConstraint(node, c, column)} is not enforced by ${adapter.type}`, location, hint });
    }
    return level !== 'not_supported';
  };
  const ddl = (c: ConstraintSpec, columns?: string[]): ConstraintDdl => ({
    type: c.type,
    name: c.name,
    expression: c.expression,
    columns,
    to: c.to ? resolveConstraintTarget(services.compiler, node, c.to) : undefined,
    toColumns: c.toColumns,
  });
  const extraNotNull = new Set<string>();
  const tableClauses: string[] = [];
  for (const c of contract.modelConstraints) {
    if (!keep(c)) continue;
    if (c.type === 'not_null') {
      for (const col of c.columns ?? []) extraNotNull.add(col.replace(/^"(.*)"$/, '$1').toLowerCase());
      continue;
    }
    const clause = adapter.ddl.tableConstraint(ddl(c, c.columns));
    if (clause) tableClauses.push(clause);
  }
  const columns: TableColumnDef[] = contract.columns.map((col) => {
    const clauses: string[] = [];
    for (const c of col.constraints) {
      if (!keep(c, col.name)) continue;
      const clause = adapter.ddl.columnConstraint(ddl(c));
      if (clause) clauses.push(clause);
    }
    if (extraNotNull.has(col.name.toLowerCase()) && !col.constraints.some((c) => c.type === 'not_null')) {
      const clause = adapter.ddl.columnConstraint({ type: 'not_null' });
      if (clause) clauses.push(clause);
    }
    return { name: col.name, type: col.dataType, quote: col.quote, constraints: clauses };
  });
  return { columns, constraints: tableClauses, warnings };
}

function hasConstraints(contract: ContractSpec): boolean {
  return contract.modelConstraints.length > 0 || contract.columns.some((c) => c.constraints.length > 0);
}

/**
 * Build a contracted view or table at `target` through the materializer: check the columns, then (table)
 * create the empty table with its constraints and insert the model's rows, under the temporary name.
 */
export async function buildWithContract(
  services: ContractServices, conn: Connection, node: SqlNode, contract: ContractSpec, kind: 'view' | 'table',
  target: RelationRef, sql: string, opts: { sqlHeader?: string; beforeCommit?: () => Promise<void>; config?: NodeConfigView }, log: SqlLog,
): Promise<StepResult> {
  const { adapter, materializer } = services;
  if (kind === 'view') {
    await assertContract(adapter, conn, node, contract, sql, opts.sqlHeader, log);
    if (hasConstraints(contract)) {
      services.warn?.({
        message: `constraints on view '${node.name}' are not applied: a view cannot enforce constraints`,
        location: contractLocation(node),
        hint: 'Materialize the model as a table to have them enforced, or remove them; the column names and types are still checked.',
      });
    }
    return materializer.fromSelect(conn, 'view', target, sql, opts, log);
  }
  // Planned before touching the warehouse, so a malformed constraint fails without a query.
  const plan = planConstraints(services, node, contract);
  await assertContract(adapter, conn, node, contract, sql, opts.sqlHeader, log);
  for (const w of plan.warnings) services.warn?.(w);
  return materializer.replace(conn, target, {
    kind: 'table',
    singleStatement: false,
    beforeCommit: opts.beforeCommit,
    build: async (rel) => {
      const create = adapter.ddl.createTable(rel, plan.columns, false, { constraints: plan.constraints, config: opts.config });
      log(create);
      await conn.execute(create);
      // The header already ran on this connection for the column check.
      const insert = adapter.ddl.insertSelect(rel, contract.columns, sql, { quoteColumns: false });
      log(insert);
      // Rows that break a constraint fail here; the materializer drops the temporary table.
      return conn.execute(insert);
    },
  }, log);
}

