/**
 * After a build: descriptions from the node's documentation (dbt's `persist_docs: {relation, columns}`),
 * set with `alter table|view … set options(description=…)` and, per documented column the relation has,
 * `alter … alter column … set options(description=…)`.
 *
 * @example
 * await bigqueryAfterBuild(conn, { relation, kind: 'table', config: { persist_docs: { relation: true } }, description: 'Orders', columns: [] }, log)
 * // alter table `p`.`d`.`orders` set options(description='Orders')
 */
import type { BuiltRelation, Connection } from '../../src/adapter.js';
import { bigqueryLiteral, quoteBigQueryIdentifier, renderBigQueryRelation } from './ddl.js';
import { getBigQueryColumns } from './introspection.js';

function persistDocs(config: BuiltRelation['config']): { relation: boolean; columns: boolean } {
  const p = config.persist_docs as { relation?: unknown; columns?: unknown } | undefined;
  return { relation: p?.relation === true, columns: p?.columns === true };
}

/** The statements that persist a relation's docs; `existing` are the relation's column names. */
export function persistDocsStatements(built: BuiltRelation, existing: readonly string[]): string[] {
  const docs = persistDocs(built.config);
  const keyword = built.kind === 'view' ? 'view' : 'table';
  const rel = renderBigQueryRelation(built.relation);
  const out: string[] = [];
  if (docs.relation && built.description) out.push(`alter ${keyword} ${rel} set options(description=${bigqueryLiteral(built.description)})`);
  if (docs.columns) {
    const have = new Map(existing.map((c) => [c.toLowerCase(), c]));
    for (const c of built.columns) {
      const name = have.get(c.name.toLowerCase());
      if (name && c.description) out.push(`alter ${keyword} ${rel} alter column ${quoteBigQueryIdentifier(name)} set options(description=${bigqueryLiteral(c.description)})`);
    }
  }
  return out;
}

export async function bigqueryAfterBuild(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
  const docs = persistDocs(built.config);
  if (!(docs.relation && built.description) && !(docs.columns && built.columns.some((c) => c.description))) return;
  const existing = docs.columns ? (await getBigQueryColumns(conn, built.relation)).map((c) => c.name) : [];
  for (const sql of persistDocsStatements(built, existing)) {
    log(sql);
    await conn.execute(sql);
  }
}
