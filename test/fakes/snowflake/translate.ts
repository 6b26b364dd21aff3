/**
 * Snowflake SQL → DuckDB SQL for the fake Snowflake service (the only place this translation exists; the
 * adapter sends Snowflake SQL). Steps for one statement:
 *
 * 1. Snowflake-only clauses DuckDB has no use for are taken out of CREATE statements and reported back:
 *    `transient`, `secure`, `copy grants`, `cluster by (…)`.
 * 2. @polyglot-sql/sdk transpiles snowflake → duckdb (IFF, DATEADD, FLOAT, NUMBER …).
 * 3. The DuckDB text is parsed again and every unquoted identifier is upper-cased and quoted, as Snowflake
 *    folds them (so result columns come back as ID, tables are stored as ORDERS).
 * 4. Constraints Snowflake does not enforce (primary key, unique, foreign key) are dropped from CREATE
 *    TABLE; not null stays (Snowflake enforces it).
 * 5. `<db>.information_schema.tables|columns` become subqueries over DuckDB's catalog with Snowflake's
 *    column names and type names (NUMBER, TEXT, TIMESTAMP_NTZ …).
 *
 * When polyglot cannot parse a statement, the text after step 1 goes to DuckDB as it is.
 */
import { Dialect, generate, parse, transpile } from '@polyglot-sql/sdk';

export interface Translation {
  sql: string;
  /** Snowflake clauses taken out in step 1 (for the request log and contract tests). */
  stripped: string[];
  /** polyglot could not parse the statement; `sql` is the input after step 1. */
  raw: boolean;
}

/** Remove `cluster by ( … )` with balanced parentheses from a CREATE statement's head. */
function stripClusterBy(sql: string, stripped: string[]): string {
  const m = /\bcluster\s+by\s*\(/i.exec(sql);
  if (!m) return sql;
  let depth = 0;
  let i = m.index + m[0].length - 1;
  for (; i < sql.length; i++) {
    if (sql[i] === '(') depth++;
    else if (sql[i] === ')' && --depth === 0) break;
  }
  stripped.push(sql.slice(m.index, i + 1).replace(/\s+/g, ' '));
  return sql.slice(0, m.index) + sql.slice(i + 1);
}

function stripSnowflakeClauses(sql: string, stripped: string[]): string {
  let out = sql;
  const head = /^\s*create\s+(or\s+replace\s+)?(transient\s+|secure\s+)?(table|view)\b/i.exec(out);
  if (!head) return out;
  if (head[2]) {
    stripped.push(head[2].trim().toLowerCase());
    out = out.replace(/^(\s*create\s+(?:or\s+replace\s+)?)(transient|secure)\s+/i, '$1');
  }
  // Only the part before the body (`as (` / the column list) carries these clauses.
  const bodyAt = /\bas\s*\(|\(\s*\n/i.exec(out);
  const cut = bodyAt ? bodyAt.index : out.length;
  let before = out.slice(0, cut);
  const after = out.slice(cut);
  if (/\bcopy\s+grants\b/i.test(before)) {
    stripped.push('copy grants');
    before = before.replace(/\bcopy\s+grants\b/i, '');
  }
  before = stripClusterBy(before, stripped);
  out = before + after;
  // A column-list CREATE TABLE may end with `cluster by (…)`.
  if (/\)\s*cluster\s+by\s*\(/i.test(out)) {
    const at = out.search(/\bcluster\s+by\s*\([^)]*\)\s*$/i);
    if (at >= 0) out = stripClusterBy(out.slice(0, at) + out.slice(at), stripped);
  }
  return out;
}

/** Upper-case and quote every unquoted identifier in a polyglot AST (Snowflake's folding). */
function foldIdentifiers(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) foldIdentifiers(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (typeof o.name === 'string' && typeof o.quoted === 'boolean' && 'trailing_comments' in o) {
    if (!o.quoted) {
      o.name = o.name.toUpperCase();
      o.quoted = true;
    }
    return;
  }
  for (const v of Object.values(o)) foldIdentifiers(v);
}

/** Catalog views with Snowflake's column and type names, per database. */
function informationSchema(view: string, database: string): string {
  const db = `'${database.replace(/'/g, "''")}'`;
  switch (view) {
    case 'TABLES':
      return `(select table_catalog as "TABLE_CATALOG", table_schema as "TABLE_SCHEMA", table_name as "TABLE_NAME", `
        + `case table_type when 'LOCAL TEMPORARY' then 'TEMPORARY TABLE' else table_type end as "TABLE_TYPE" `
        + `from information_schema.tables where table_catalog = ${db})`;
    case 'COLUMNS':
      return `(select table_catalog as "TABLE_CATALOG", table_schema as "TABLE_SCHEMA", table_name as "TABLE_NAME", column_name as "COLUMN_NAME", `
        + `ordinal_position as "ORDINAL_POSITION", __sf_type(data_type) as "DATA_TYPE", `
        + `case when __sf_type(data_type) = 'NUMBER' then (case when data_type like 'DECIMAL%' then numeric_precision else 38 end) end as "NUMERIC_PRECISION", `
        + `case when __sf_type(data_type) = 'NUMBER' then (case when data_type like 'DECIMAL%' then numeric_scale else 0 end) end as "NUMERIC_SCALE", `
        + `case when __sf_type(data_type) = 'TEXT' then 16777216 end as "CHARACTER_MAXIMUM_LENGTH", `
        + `case when __sf_type(data_type) like 'TIMESTAMP%' then 9 end as "DATETIME_PRECISION", `
        + `is_nullable as "IS_NULLABLE" from information_schema.columns where table_catalog = ${db})`;
    case 'SCHEMATA':
      return `(select catalog_name as "CATALOG_NAME", schema_name as "SCHEMA_NAME" from information_schema.schemata where catalog_name = ${db})`;
    default:
      return `information_schema.${view.toLowerCase()}`;
  }
}

/** DuckDB's type names → Snowflake's information_schema DATA_TYPE (a temp macro of each fake session). */
export const SF_TYPE_MACRO = `create or replace temp macro __sf_type(t) as case
  when t in ('TINYINT','SMALLINT','INTEGER','BIGINT','HUGEINT','UTINYINT','USMALLINT','UINTEGER','UBIGINT','UHUGEINT') or t like 'DECIMAL%' then 'NUMBER'
  when t in ('FLOAT','DOUBLE','REAL') then 'FLOAT'
  when t = 'VARCHAR' then 'TEXT'
  when t = 'BOOLEAN' then 'BOOLEAN'
  when t = 'DATE' then 'DATE'
  when t = 'TIMESTAMP WITH TIME ZONE' then 'TIMESTAMP_TZ'
  when t like 'TIMESTAMP%' then 'TIMESTAMP_NTZ'
  when t like 'TIME%' then 'TIME'
  when t = 'BLOB' then 'BINARY'
  else 'VARIANT' end`;

/** Snowflake functions DuckDB lacks, as temp macros of each fake session. */
export const FUNCTION_MACROS = [
  'create or replace temp macro to_varchar(x) as cast(x as varchar)',
  'create or replace temp macro to_char(x) as cast(x as varchar)',
  'create or replace temp macro to_timestamp_ntz(x) as cast(x as timestamp)',
  'create or replace temp macro to_number(x) as cast(x as decimal(38, 0))',
  'create or replace temp macro sysdate() as cast(now() as timestamp)',
];

function constraintsOff(sql: string): string {
  if (!/^\s*CREATE\s+(OR\s+REPLACE\s+)?TABLE\b[^(]*\(/i.test(sql) || /\bAS\s*\(/i.test(sql.slice(0, 200))) return sql;
  return sql
    .replace(/,\s*(CONSTRAINT\s+"[^"]*"\s+)?(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)/gi, '')
    .replace(/,\s*(CONSTRAINT\s+"[^"]*"\s+)?FOREIGN\s+KEY\s*\([^)]*\)\s*REFERENCES\s+[^(]+\([^)]*\)/gi, '')
    .replace(/\s+REFERENCES\s+[^(,]+\([^)]*\)/gi, '')
    .replace(/\s+PRIMARY\s+KEY\b/gi, '')
    .replace(/\s+UNIQUE\b/gi, '');
}

export function translate(sql: string, currentDatabase: string): Translation {
  const stripped: string[] = [];
  const pre = stripSnowflakeClauses(sql, stripped);
  let out: string;
  let raw = false;
  const t = transpile(pre, Dialect.Snowflake, Dialect.DuckDB);
  const ast = t.success && t.sql?.length === 1 ? parse(t.sql[0], Dialect.DuckDB) : undefined;
  if (ast?.success) {
    foldIdentifiers(ast.ast);
    const g = generate(ast.ast, Dialect.DuckDB);
    out = g.success && g.sql ? g.sql.join(';\n') : t.sql![0];
  } else if (t.success && t.sql?.length === 1) {
    out = t.sql[0];
  } else {
    out = pre;
    raw = true;
  }
  out = out
    .replace(/\bTIMESTAMPNTZ\b/gi, 'TIMESTAMP')
    .replace(/\bTIMESTAMPLTZ\b/gi, 'TIMESTAMPTZ')
    .replace(/\bTIMESTAMP_NTZ\b/gi, 'TIMESTAMP')
    .replace(/\bTIMESTAMP_(LTZ|TZ)\b/gi, 'TIMESTAMPTZ')
    .replace(/\b(CURRENT_TIMESTAMP|CURRENT_DATE|LOCALTIMESTAMP)\s*\(\s*\)/gi, '$1');
  out = out.replace(/(?:"([^"]+)"\.)?"INFORMATION_SCHEMA"\."([A-Za-z_]+)"/gi, (_m, db: string | undefined, view: string) => informationSchema(view.toUpperCase(), db ?? currentDatabase));
  out = out.replace(/(?:\b([A-Za-z_]\w*)\.)?\binformation_schema\.(tables|columns|schemata)\b/gi, (m, db: string | undefined, view: string) => (raw ? informationSchema(view.toUpperCase(), (db ?? currentDatabase).toUpperCase()) : m));
  out = constraintsOff(out);
  return { sql: out, stripped, raw };
}
