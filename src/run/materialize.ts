/**
 * Materializations, written once for every adapter: view, table and seed. A relation is built under a
 * temporary name and swapped in (rename old → backup, new → target, drop backup) inside one transaction
 * where the adapter has transactional DDL, so a failure at any step leaves the previous relation in place.
 */
import type { Adapter, Connection, RelationKind, RelationRef } from '../adapter.js';
import type { RelationCache } from '../compile/relationCache.js';

export interface StepResult {
  message: string;
  rowsAffected?: number;
}

export const TMP_SUFFIX = '__kiln_tmp';
export const BACKUP_SUFFIX = '__kiln_backup';

function withSuffix(rel: RelationRef, suffix: string): RelationRef {
  return { ...rel, identifier: `${rel.identifier}${suffix}` };
}

/** Log of the SQL a materialization ran, for target/run/. */
export type SqlLog = (sql: string) => void;

export class Materializer {
  constructor(
    private readonly adapter: Adapter,
    private readonly relations: RelationCache,
  ) {}

  private readonly schemas = new Map<string, Promise<void>>();

  /** Create the schema once per run; concurrent nodes in one schema share the one statement. */
  ensureSchema(conn: Connection, rel: RelationRef, log: SqlLog): Promise<void> {
    const key = `${rel.database ?? ''}.${rel.schema}`.toLowerCase();
    let done = this.schemas.get(key);
    if (!done) {
      const sql = this.adapter.ddl.createSchema(rel.database, rel.schema);
      log(sql);
      done = conn.execute(sql).then(() => undefined);
      done.catch(() => this.schemas.delete(key));
      this.schemas.set(key, done);
    }
    return done;
  }

  private async dropIfExists(conn: Connection, rel: RelationRef, log: SqlLog): Promise<void> {
    const existing = await this.relations.get(rel, conn);
    if (!existing) return;
    const sql = this.adapter.ddl.dropRelation(rel, existing.kind);
    log(sql);
    await conn.execute(sql);
    await this.relations.dropped(rel);
  }

  /**
   * Build `kind` at `target` with `build(tmpRelation)` and swap it in atomically. `build` runs the
   * statements that create the temporary relation and returns what to report.
   */
  async replace(
    conn: Connection,
    target: RelationRef,
    kind: RelationKind,
    build: (tmp: RelationRef) => Promise<StepResult>,
    log: SqlLog,
  ): Promise<StepResult> {
    const ddl = this.adapter.ddl;
    const tmp = withSuffix(target, TMP_SUFFIX);
    const backup = withSuffix(target, BACKUP_SUFFIX);
    await this.ensureSchema(conn, target, log);
    await this.dropIfExists(conn, tmp, log);
    await this.dropIfExists(conn, backup, log);
    const result = await build(tmp);
    await this.relations.added(tmp, kind);

    const existing = await this.relations.get(target, conn);
    const run = async (sql: string) => {
      log(sql);
      await conn.execute(sql);
    };
    const transactional = this.adapter.capabilities.transactionalDdl;
    if (transactional) await run(ddl.begin());
    try {
      if (existing) await run(ddl.renameRelation(target, existing.kind, backup.identifier));
      await run(ddl.renameRelation(tmp, kind, target.identifier));
      if (existing) await run(ddl.dropRelation(backup, existing.kind));
      if (transactional) await run(ddl.commit());
    } catch (e) {
      if (transactional) {
        try {
          await run(ddl.rollback());
        } catch {
          // the original error is the one to report
        }
      }
      this.relations.invalidate(target.database, target.schema);
      // The temporary relation is useless now; the target is untouched.
      try {
        await this.dropIfExists(conn, tmp, log);
      } catch {
        // best effort
      }
      throw e;
    }
    await this.relations.dropped(tmp);
    await this.relations.dropped(backup);
    await this.relations.added(target, kind);
    return result;
  }

  async view(conn: Connection, target: RelationRef, sql: string, log: SqlLog): Promise<StepResult> {
    return this.replace(conn, target, 'view', async (tmp) => {
      const stmt = this.adapter.ddl.createViewAs(tmp, sql);
      log(stmt);
      const res = await conn.execute(stmt);
      return { message: res.message };
    }, log);
  }

  async table(conn: Connection, target: RelationRef, sql: string, log: SqlLog): Promise<StepResult> {
    return this.replace(conn, target, 'table', async (tmp) => {
      const stmt = this.adapter.ddl.createTableAs(tmp, sql);
      log(stmt);
      const res = await conn.execute(stmt);
      return { message: res.message, rowsAffected: res.rowsAffected };
    }, log);
  }
}
