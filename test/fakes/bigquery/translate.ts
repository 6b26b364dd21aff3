/**
 * BigQuery (GoogleSQL) → DuckDB, for the fake BigQuery service only. A script is split into statements;
 * the statements the BigQuery adapter emits whose shape DuckDB lacks are handled here (dataset DDL,
 * `create … copy`, table clauses and `options(…)` kept as metadata, `declare`/`set` of an array variable,
 * `alter … set options`), and every other statement goes through @polyglot-sql/sdk (a sqlglot port) with
 * a few fixes: `` `p.d.t` `` split into parts, `current_timestamp()` as a naive UTC timestamp (the fake maps
 * BigQuery TIMESTAMP to DuckDB TIMESTAMP throughout), script variables read with getvariable().
 */
import { transpile } from '@polyglot-sql/sdk';

/** One statement of a script with where it starts (0-based line of the whole query). */
export interface Statement {
  sql: string;
  line: number;
}

/** Split a script at top-level semicolons (outside quotes, backticks and comments). */
export function splitStatements(script: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = script.slice(start, end);
    const lead = /^\s*/.exec(text)![0];
    const sql = text.trim();
    if (sql && !/^(--[^\n]*\n?|\/\*[\s\S]*?\*\/|\s)*$/.test(sql)) out.push({ sql, line: script.slice(0, start + lead.length).split('\n').length - 1 });
  };
  while (i < script.length) {
    const ch = script[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      const triple = script.startsWith(ch.repeat(3), i) && ch !== '`';
      const close = triple ? ch.repeat(3) : ch;
      i += close.length;
      while (i < script.length && !script.startsWith(close, i)) i += script[i] === '\\' ? 2 : 1;
      i += close.length;
    } else if (script.startsWith('--', i) || ch === '#') {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (script.startsWith('/*', i)) {
      const end = script.indexOf('*/', i + 2);
      i = end < 0 ? script.length : end + 2;
    } else if (ch === ';') {
      push(i);
      start = ++i;
    } else i++;
  }
  push(script.length);
  return out;
}

/** A relation name as written: `` `p`.`d`.`t` ``, `` `p.d.t` ``, `p.d.t` → its parts. */
export function nameParts(text: string): string[] {
  const parts: string[] = [];
  const re = /`((?:[^`\\]|\\.)*)`|([A-Za-z_][\w-]*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m[1] !== undefined) parts.push(...m[1].replace(/\\(.)/g, '$1').split('.'));
    else parts.push(m[2]);
  }
  return parts;
}

export const duckName = (parts: readonly string[]) => parts.map((p) => `"${p.replace(/"/g, '""')}"`).join('.');

/** Metadata BigQuery keeps about a table that DuckDB has no place for. */
export interface TableOptions {
  partitionBy?: string;
  clusterBy?: string[];
  options: Record<string, string>;
}

/** `options(a=1, b='x', labels=[('k','v')])` → {a: '1', b: "'x'", labels: "[('k','v')]"} (values as SQL text). */
export function parseOptions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let depth = 0;
  let start = 0;
  let quote: string | undefined;
  const items: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  for (const item of items) {
    const m = /^\s*(\w+)\s*=\s*([\s\S]*?)\s*$/.exec(item);
    if (m) out[m[1].toLowerCase()] = m[2];
  }
  return out;
}

/** A GoogleSQL string literal's value. */
export function literalValue(text: string): string {
  const m = /^(['"])([\s\S]*)\1$/.exec(text.trim());
  if (!m) return text.trim();
  return m[2].replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c] ?? c);
}

/** The index of the parenthesis that closes the one at `open`. */
function closingParen(s: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  return -1;
}

export class TranslationError extends Error {
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
  }
}

/** Transpile one GoogleSQL statement to DuckDB (already free of BigQuery-only clauses). */
export function toDuckdb(sql: string, variables: ReadonlySet<string> = new Set()): string {
  // `p.d.t` in one pair of backticks is three parts.
  let text = sql.replace(/`((?:[^`\\]|\\.)*)`/g, (all, inner: string) => (inner.includes('.') ? inner.split('.').map((p) => `\`${p}\``).join('.') : all));
  for (const v of variables) text = text.replace(new RegExp(`unnest\\(\\s*${v}\\s*\\)`, 'gi'), `unnest(getvariable('${v}'))`);
  const r = transpile(text, 'bigquery' as never, 'duckdb' as never);
  if (!r.success || !r.sql) {
    const e = r as { error?: string; errorLine?: number; errorColumn?: number };
    throw new TranslationError(`Syntax error: ${String(e.error ?? 'unparseable statement').replace(/^Parse error at line \d+, column \d+: /, '')}`, e.errorLine, e.errorColumn);
  }
  return r.sql
    .join(';\n')
    // BigQuery TIMESTAMP is DuckDB TIMESTAMP here (naive UTC); current_timestamp() must be one too.
    .replace(/\bCURRENT_TIMESTAMP\b(?!\s*\()/g, 'CAST(CURRENT_TIMESTAMP AS TIMESTAMP)')
    .replace(/\bIN UNNEST\(GETVARIABLE\('(\w+)'\)\)/gi, "IN (SELECT UNNEST(GETVARIABLE('$1')))")
    // Key constraints are informational on BigQuery: DuckDB would enforce them, so they are left out.
    .replace(/,\s*PRIMARY KEY\s*\([^)]*\)\s*NOT ENFORCED/gi, '')
    .replace(/,\s*(CONSTRAINT\s+\S+\s+)?FOREIGN KEY\s*\([^)]*\)\s*REFERENCES\s+[^(]+\([^)]*\)\s*NOT ENFORCED/gi, '')
    .replace(/\s+PRIMARY KEY\s+NOT ENFORCED/gi, '')
    .replace(/\s+REFERENCES\s+[^(,]+\([^)]*\)\s*NOT ENFORCED/gi, '');
}

export type Plan =
  | { kind: 'sql'; sql: string; statement: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE' | 'CREATE_TABLE' | 'CREATE_TABLE_AS_SELECT' | 'CREATE_VIEW' | 'DROP_TABLE' | 'DROP_VIEW' | 'ALTER_TABLE' | 'OTHER'; table?: string[]; tableOptions?: TableOptions; replace?: boolean }
  | { kind: 'createSchema'; parts: string[]; ifNotExists: boolean; options: Record<string, string> }
  | { kind: 'dropSchema'; parts: string[]; ifExists: boolean; cascade: boolean }
  | { kind: 'copyTable'; target: string[]; source: string[]; replace: boolean }
  | { kind: 'setOptions'; table: string[]; column?: string; options: Record<string, string> }
  | { kind: 'declare'; name: string }
  | { kind: 'setVariable'; name: string; sql: string };

const NAME = '((?:`(?:[^`\\\\]|\\\\.)+`|[A-Za-z_][\\w-]*)(?:\\.(?:`(?:[^`\\\\]|\\\\.)+`|[A-Za-z_][\\w-]*)){0,2})';

function statementType(sql: string): Extract<Plan, { kind: 'sql' }>['statement'] {
  const head = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '').toLowerCase();
  if (/^(select|with|\()/.test(head)) return 'SELECT';
  for (const [re, t] of [[/^insert\b/, 'INSERT'], [/^update\b/, 'UPDATE'], [/^delete\b/, 'DELETE'], [/^merge\b/, 'MERGE'],
    [/^create\s+(or\s+replace\s+)?view\b/, 'CREATE_VIEW'], [/^drop\s+(materialized\s+)?view\b/, 'DROP_VIEW'], [/^drop\s+(external\s+)?table\b/, 'DROP_TABLE'],
    [/^alter\b/, 'ALTER_TABLE']] as const) {
    if (re.test(head)) return t;
  }
  return 'OTHER';
}

/** Plan one statement of a script: what the fake does with it. */
export function planStatement(sql: string, variables: ReadonlySet<string>): Plan {
  const s = sql.trim();
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^create\\s+schema\\s+(if\\s+not\\s+exists\\s+)?${NAME}\\s*(?:options\\s*\\(([\\s\\S]*)\\))?$`, 'i').exec(s))) {
    return { kind: 'createSchema', parts: nameParts(m[2]), ifNotExists: !!m[1], options: m[3] ? parseOptions(m[3]) : {} };
  }
  if ((m = new RegExp(`^drop\\s+schema\\s+(if\\s+exists\\s+)?${NAME}(\\s+cascade|\\s+restrict)?$`, 'i').exec(s))) {
    return { kind: 'dropSchema', parts: nameParts(m[2]), ifExists: !!m[1], cascade: /cascade/i.test(m[3] ?? '') };
  }
  if ((m = new RegExp(`^create\\s+(or\\s+replace\\s+)?table\\s+${NAME}\\s+copy\\s+${NAME}$`, 'i').exec(s))) {
    return { kind: 'copyTable', replace: !!m[1], target: nameParts(m[2]), source: nameParts(m[3]) };
  }
  if ((m = new RegExp(`^alter\\s+(?:table|view)\\s+${NAME}\\s+(?:alter\\s+column\\s+(\`[^\`]+\`|\\w+)\\s+)?set\\s+options\\s*\\(([\\s\\S]*)\\)$`, 'i').exec(s))) {
    return { kind: 'setOptions', table: nameParts(m[1]), column: m[2]?.replace(/`/g, ''), options: parseOptions(m[3]) };
  }
  if ((m = /^declare\s+(\w+)\s+[\s\S]+$/i.exec(s))) return { kind: 'declare', name: m[1] };
  if ((m = /^set\s*\(\s*(\w+)\s*\)\s*=\s*\(\s*select\s+as\s+struct\s+([\s\S]*)\)$/i.exec(s))) {
    return { kind: 'setVariable', name: m[1], sql: toDuckdb(`select ${m[2]}`, variables) };
  }
  if ((m = new RegExp(`^create\\s+(or\\s+replace\\s+)?(?:temp\\s+|temporary\\s+)?table\\s+(if\\s+not\\s+exists\\s+)?${NAME}\\s*`, 'i').exec(s))) {
    const table = nameParts(m[3]);
    let rest = s.slice(m[0].length);
    let columns = '';
    if (rest.startsWith('(')) {
      const close = closingParen(rest, 0);
      columns = rest.slice(0, close + 1);
      rest = rest.slice(close + 1).trim();
    }
    const opts: TableOptions = { options: {} };
    const part = /^partition\s+by\s+/i.exec(rest);
    if (part) {
      const body = rest.slice(part[0].length);
      const stop = /\s(cluster\s+by|options\s*\(|as\s*\()|\s+as\s+/i.exec(body);
      opts.partitionBy = (stop ? body.slice(0, stop.index) : body).trim();
      rest = (stop ? body.slice(stop.index) : '').trim();
    }
    const cluster = /^cluster\s+by\s+([\s\S]*?)(?=\s+options\s*\(|\s+as\s*\(|\s+as\s+|$)/i.exec(rest);
    if (cluster) {
      opts.clusterBy = cluster[1].split(',').map((c) => c.trim().replace(/`/g, ''));
      rest = rest.slice(cluster[0].length).trim();
    }
    const o = /^options\s*\(/i.exec(rest);
    if (o) {
      const close = closingParen(rest, o[0].length - 1);
      opts.options = parseOptions(rest.slice(o[0].length, close));
      rest = rest.slice(close + 1).trim();
    }
    const head = `create ${m[1] ? 'or replace ' : ''}table ${m[2] ? 'if not exists ' : ''}${duckName(table)}`;
    if (/^as\b/i.test(rest)) {
      const query = toDuckdb(rest.replace(/^as\s*/i, ''), variables);
      const cols = columns ? ` ${toDuckdb(`create table x ${columns}`).replace(/^CREATE TABLE x\s*/i, '')}` : '';
      return { kind: 'sql', statement: 'CREATE_TABLE_AS_SELECT', sql: cols ? `${head}${cols};\ninsert into ${duckName(table)} ${query}` : `${head} as ${query}`, table, tableOptions: opts, replace: !!m[1] };
    }
    if (rest) throw new TranslationError(`Syntax error: Unexpected "${rest.slice(0, 20)}"`);
    const cols = toDuckdb(`create table x ${columns}`).replace(/^CREATE TABLE x\s*/i, '');
    return { kind: 'sql', statement: 'CREATE_TABLE', sql: `${head} ${cols}`, table, tableOptions: opts, replace: !!m[1] };
  }
  if ((m = new RegExp(`^create\\s+(or\\s+replace\\s+)?view\\s+(if\\s+not\\s+exists\\s+)?${NAME}\\s*(options\\s*\\()?`, 'i').exec(s))) {
    const table = nameParts(m[3]);
    let rest = s.slice(m[0].length);
    const opts: TableOptions = { options: {} };
    if (m[4]) {
      const end = closingParen(`(${rest}`, 0) - 1;
      opts.options = parseOptions(rest.slice(0, end));
      rest = rest.slice(end + 1).trim();
    }
    const query = toDuckdb(rest.replace(/^as\s*/i, ''), variables);
    return { kind: 'sql', statement: 'CREATE_VIEW', sql: `create ${m[1] ? 'or replace ' : ''}view ${duckName(table)} as ${query}`, table, tableOptions: opts, replace: !!m[1] };
  }
  return { kind: 'sql', statement: statementType(s), sql: toDuckdb(s, variables) };
}
