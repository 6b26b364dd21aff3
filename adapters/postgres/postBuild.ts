/**
 * What Postgres applies to a relation after building it (the Adapter's `afterBuild`), inside the swap's
 * transaction so that a failure leaves the previous relation:
 *
 * - `indexes: [{columns: [a, b], unique: true, type: hash}]` (tables only) — `create [unique] index <name>
 *   on … [using <type>] (a, b)`; the name carries a hash of the columns and a timestamp as dbt-postgres does,
 *   because index names are unique per schema and the previous relation keeps its index until dropped.
 * - `persist_docs: {relation: true, columns: true}` — `comment on table|view …` and `comment on column …`
 *   for documented columns the relation has.
 * - `grants: {select: [role_a, role_b]}` — privileges read from the catalog are revoked where the config no
 *   longer names them and granted where it does; without `grants:` nothing is touched (a freshly swapped-in
 *   relation starts with none, so a removed config leaves no grants behind).
 *
 * @example
 * await postgresAfterBuild(conn, { relation, kind: 'table', config: { grants: { select: ['reporter'] } }, columns: [] }, log)
 * // revoke/grant statements as needed: grant select on "db"."s"."t" to reporter
 */
import { createHash } from 'node:crypto';
import type { BuiltRelation, Connection } from '../../src/adapter.js';
import { KilnError } from '../../src/errors.js';
import { KIND_KEYWORD, postgresLiteral, quotePostgresIdentifier, renderPostgresRelation } from './ddl.js';

const PRIVILEGES = new Set(['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']);

/** A grantee as dbt writes it: a plain name stays bare (Postgres folds it to lower case), anything else is quoted. */
export function renderGrantee(role: string): string {
  if (/^public$/i.test(role)) return 'public';
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(role) ? role : quotePostgresIdentifier(role);
}

/** The name the catalog stores for a grantee written as `role`. */
function catalogName(role: string): string {
  if (/^public$/i.test(role)) return 'PUBLIC';
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(role) ? role.toLowerCase() : role;
}

function configError(message: string, hint: string): never {
  throw new KilnError('config', message, { hint });
}

/** `grants:` as privilege → roles, checked (privileges are written into SQL, so only known words pass). */
export function parseGrants(value: unknown): Map<string, string[]> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) configError('grants must be a mapping of privilege to roles', 'Example: grants: {select: [reporter]}');
  const out = new Map<string, string[]>();
  for (const [privilege, roles] of Object.entries(value as Record<string, unknown>)) {
    const p = privilege.toLowerCase().trim();
    if (!PRIVILEGES.has(p)) configError(`grants: unknown privilege '${privilege}'`, `Privileges on a relation: ${[...PRIVILEGES].join(', ')}.`);
    const list = roles === null || roles === undefined ? [] : Array.isArray(roles) ? roles : [roles];
    if (!list.every((r) => typeof r === 'string' && r.trim() !== '')) configError(`grants: the roles for '${privilege}' must be names`, 'Example: grants: {select: [reporter, analyst]}');
    out.set(p, [...new Set((list as string[]).map((r) => r.trim()))]);
  }
  return out;
}

/** privilege → grantees (catalog spelling, `PUBLIC` for public) held on a relation by others than its owner. */
export type GrantReader = (conn: Connection, built: BuiltRelation) => Promise<Map<string, Set<string>>>;

export const readPostgresGrants: GrantReader = async (conn, built) => {
  const res = await conn.execute(
    `select coalesce(r.rolname, 'PUBLIC') as grantee, lower(a.privilege_type) as privilege
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       cross join lateral aclexplode(c.relacl) a
       left join pg_catalog.pg_roles r on r.oid = a.grantee
      where n.nspname = $1 and c.relname = $2 and a.grantee <> c.relowner`,
    { params: [built.relation.schema, built.relation.identifier] },
  );
  const current = new Map<string, Set<string>>();
  for (const r of res.rows) {
    const p = String(r.privilege);
    if (!current.has(p)) current.set(p, new Set());
    current.get(p)!.add(String(r.grantee));
  }
  return current;
};

async function applyGrants(conn: Connection, built: BuiltRelation, log: (sql: string) => void, readGrants: GrantReader): Promise<void> {
  const wanted = parseGrants(built.config.grants);
  if (!wanted) return;
  const rel = renderPostgresRelation(built.relation);
  const current = await readGrants(conn, built);
  const statements: string[] = [];
  for (const [privilege, holders] of current) {
    const keep = new Set((wanted.get(privilege) ?? []).map(catalogName));
    const revoke = [...holders].filter((h) => !keep.has(h));
    if (revoke.length) statements.push(`revoke ${privilege} on ${rel} from ${revoke.map((h) => (h === 'PUBLIC' ? 'public' : quotePostgresIdentifier(h))).join(', ')}`);
  }
  for (const [privilege, roles] of wanted) {
    const have = current.get(privilege) ?? new Set();
    const add = roles.filter((r) => !have.has(catalogName(r)));
    if (add.length) statements.push(`grant ${privilege} on ${rel} to ${add.map(renderGrantee).join(', ')}`);
  }
  for (const s of statements) {
    log(s);
    await conn.execute(s);
  }
}

async function persistDocs(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
  const cfg = built.config.persist_docs as { relation?: unknown; columns?: unknown } | undefined;
  if (!cfg || typeof cfg !== 'object') return;
  const rel = renderPostgresRelation(built.relation);
  const statements: string[] = [];
  if (cfg.relation === true && built.description) {
    statements.push(`comment on ${KIND_KEYWORD[built.kind]} ${rel} is ${postgresLiteral(built.description)}`);
  }
  if (cfg.columns === true) {
    const documented = built.columns.filter((c) => c.description);
    if (documented.length) {
      // Only columns the relation has: dbt skips documented columns the SQL does not return.
      const res = await conn.execute(
        `select a.attname from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped`,
        { params: [built.relation.schema, built.relation.identifier] },
      );
      const actual = new Map(res.rows.map((r) => [String(r.attname).toLowerCase(), String(r.attname)]));
      for (const col of documented) {
        const name = actual.get(col.name.replace(/^"(.*)"$/, '$1').toLowerCase());
        if (name) statements.push(`comment on column ${rel}.${quotePostgresIdentifier(name)} is ${postgresLiteral(col.description!)}`);
      }
    }
  }
  for (const s of statements) {
    log(s);
    await conn.execute(s);
  }
}

interface IndexConfig {
  columns: string[];
  unique: boolean;
  type?: string;
}

export function parseIndexes(value: unknown): IndexConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) configError('indexes must be a list', 'Example: indexes: [{columns: [id], unique: true}]');
  return value.map((v, i) => {
    const ix = v as Record<string, unknown>;
    if (!ix || typeof ix !== 'object' || !Array.isArray(ix.columns) || ix.columns.length === 0 || !ix.columns.every((c) => typeof c === 'string')) {
      configError(`indexes[${i}] needs columns: a list of column names`, 'Example: indexes: [{columns: [customer_id, ordered_at]}]');
    }
    const type = ix.type === undefined || ix.type === null ? undefined : String(ix.type).toLowerCase();
    if (type !== undefined && !/^[a-z_][a-z0-9_]*$/.test(type)) configError(`indexes[${i}]: unknown index type '${String(ix.type)}'`, 'Index methods: btree, hash, gist, spgist, gin, brin.');
    return { columns: ix.columns as string[], unique: ix.unique === true, type };
  });
}

async function createIndexes(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
  const indexes = parseIndexes(built.config.indexes);
  if (indexes.length === 0 || built.kind !== 'table') return;
  const rel = renderPostgresRelation(built.relation);
  for (const ix of indexes) {
    const name = createHash('md5').update(`${ix.unique}_${ix.type ?? ''}_${ix.columns.join('_')}_${Date.now()}_${Math.random()}`).digest('hex');
    const sql = `create ${ix.unique ? 'unique ' : ''}index ${quotePostgresIdentifier(name)} on ${rel}${ix.type ? ` using ${ix.type}` : ''} (${ix.columns.join(', ')})`;
    log(sql);
    await conn.execute(sql);
  }
}

export async function postgresAfterBuild(
  conn: Connection, built: BuiltRelation, log: (sql: string) => void,
  opts: { indexes?: boolean; readGrants?: GrantReader } = {},
): Promise<void> {
  // Indexes come with a new relation; an incremental step into an existing table has them already.
  if (opts.indexes !== false && built.fresh !== false) await createIndexes(conn, built, log);
  await persistDocs(conn, built, log);
  await applyGrants(conn, built, log, opts.readGrants ?? readPostgresGrants);
}
