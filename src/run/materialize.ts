/**
 * Replacing a relation, written once for every adapter and chosen by capabilities:
 *
 * - swap (DuckDB, Postgres, Redshift): build under a temporary name, then in one transaction rename the old
 *   relation to a backup and the new one into place; drop the backup after commit. A failure at any step
 *   leaves the previous relation. Without transactional DDL the swap restores the backup by hand.
 * - replace in place (Snowflake, BigQuery): `create or replace … as`, which those warehouses do atomically.
 *
 * Temporary names stay within the warehouse's identifier limit.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterResponse, Connection, NodeConfigView, RelationInfo, RelationKind, RelationRef } from '../adapter.js';
import type { RelationCache } from '../compile/relationCache.js';
import type { Warning } from '../errors.js';

export type StepResult = AdapterResponse;

export const TMP_SUFFIX = '__kiln_tmp';
export const BACKUP_SUFFIX = '__kiln_backup';

/** `<identifier><suffix>`, shortened with a hash when the warehouse's identifier limit requires. */
export function suffixedName(identifier: string, suffix: string, maxLength: number): string {
  const full = `${identifier}${suffix}`;
  if (full.length <= maxLength) return full;
  const hash = createHash('sha1').update(identifier).digest('hex').slice(0, 8);
  return `${identifier.slice(0, Math.max(1, maxLength - suffix.length - hash.length - 1))}_${hash}${suffix}`;
}

/** Log of the SQL a materialization ran, for target/run/. */
export type SqlLog = (sql: string) => void;

/**
 * How to create the new relation at a given name. `replace` asks for `create or replace` (in-place
 * strategy). A multi-statement build (seeds: create, then load) cannot replace in place.
 */
export interface BuildSpec {
  kind: RelationKind;
  singleStatement: boolean;
  build: (rel: RelationRef, replace: boolean) => Promise<StepResult>;
  /**
   * Work that belongs to the swap (post-hooks): run inside the transaction before commit, so its failure
   * rolls the swap back; where there is no transaction, run right after the new relation is in place.
   */
  beforeCommit?: () => Promise<void>;
}

/** A view that `drop … cascade` of a replaced relation took along, and which Kiln has not rebuilt since. */
export interface CascadedDrop {
  view: RelationInfo;
  /** The relation being replaced whose previous version the view was bound to. */
  replaced: RelationRef;
}

const relKey = (r: RelationRef) => `${r.database ?? ''}\0${r.schema}\0${r.identifier}`.toLowerCase();

export class Materializer {
  private readonly schemas = new Map<string, Promise<void>>();
  /** Views dropped with a replaced relation (Postgres binds views to it), until Kiln builds them again. */
  private readonly cascaded = new Map<string, CascadedDrop>();

  constructor(
    private readonly adapter: Adapter,
    private readonly relations: RelationCache,
  ) {}

  private async run(conn: Connection, sql: string, log: SqlLog): Promise<void> {
    log(sql);
    await conn.execute(sql);
  }

  /** Create the schema once per run; concurrent nodes in one schema share the one statement. */
  ensureSchema(conn: Connection, rel: RelationRef, log: SqlLog): Promise<void> {
    const key = `${rel.database ?? ''}\0${rel.schema}`;
    let done = this.schemas.get(key);
    if (!done) {
      done = this.run(conn, this.adapter.ddl.createSchema(rel.database, rel.schema), log);
      done.catch(() => this.schemas.delete(key));
      this.schemas.set(key, done);
    }
    return done;
  }

  private async drop(conn: Connection, rel: RelationRef, kind: RelationKind, log: SqlLog, replacing?: RelationRef): Promise<void> {
    const cascades = this.adapter.capabilities.dropCascadesToDependents;
    // Views bound to the relation go with it: nothing re-creates them silently; they are reported.
    const dependents = cascades && this.adapter.dependentViews ? await this.adapter.dependentViews(conn, rel) : [];
    await this.run(conn, this.adapter.ddl.dropRelation(rel, kind), log);
    if (cascades) this.relations.invalidate(rel.database, rel.schema);
    else await this.relations.dropped(rel);
    for (const view of dependents) {
      this.relations.invalidate(view.database, view.schema);
      this.cascaded.set(relKey(view), { view, replaced: replacing ?? rel });
    }
  }

  /** Views dropped along with a replaced relation and not rebuilt since, for the end of the run. */
  droppedByCascade(): CascadedDrop[] {
    return [...this.cascaded.values()];
  }

  /** One warning naming the views replaced relations took with them and nothing rebuilt, if any. */
  cascadeWarning(): Warning | undefined {
    const dropped = this.droppedByCascade();
    if (dropped.length === 0) return undefined;
    const render = (r: RelationRef) => this.adapter.renderRelation(r);
    const list = dropped.map((d) => `${render(d.view)} (${d.view.kind === 'view' ? 'view' : d.view.kind.replace('_', ' ')} on ${render(d.replaced)})`);
    return {
      message: `${dropped.length === 1 ? 'a view was' : `${dropped.length} views were`} dropped with the previous version of a relation this run replaced, and not rebuilt: ${list.join(', ')}`,
      hint: `${this.adapter.type} binds a view to the relation it reads, so replacing that relation drops the view (drop … cascade). `
        + 'Kiln re-creates nothing silently: run the models of these views again (kiln run -s <model>), or re-create views Kiln does not manage.',
    };
  }

  private async dropIfExists(conn: Connection, rel: RelationRef, log: SqlLog): Promise<void> {
    const existing = await this.relations.get(rel, conn);
    if (existing) await this.drop(conn, rel, existing.kind, log);
  }

  private named(target: RelationRef, suffix: string): RelationRef {
    return { ...target, identifier: suffixedName(target.identifier, suffix, this.adapter.capabilities.maxIdentifierLength) };
  }

  /** Build `spec.kind` at `target`, leaving the previous relation in place if anything fails. */
  async replace(conn: Connection, target: RelationRef, spec: BuildSpec, log: SqlLog): Promise<StepResult> {
    const result = await this.replaceRelation(conn, target, spec, log);
    this.cascaded.delete(relKey(target));
    return result;
  }

  private async replaceRelation(conn: Connection, target: RelationRef, spec: BuildSpec, log: SqlLog): Promise<StepResult> {
    const caps = this.adapter.capabilities;
    await this.ensureSchema(conn, target, log);
    const existing = await this.relations.get(target, conn);
    const canSwap = caps.renameable.has(spec.kind) && (!existing || caps.renameable.has(existing.kind));
    if (caps.transactionalDdl && canSwap) return this.swap(conn, target, spec, existing?.kind, log);
    if (caps.createOrReplace.has(spec.kind)) return this.replaceInPlace(conn, target, spec, existing?.kind, log);
    if (canSwap) return this.swap(conn, target, spec, existing?.kind, log);
    // Nothing atomic is possible (e.g. a materialized view on a warehouse that cannot rename it).
    if (existing) await this.drop(conn, target, existing.kind, log);
    const result = await spec.build(target, false);
    await this.relations.added(target, spec.kind);
    await spec.beforeCommit?.();
    return result;
  }

  private async swap(conn: Connection, target: RelationRef, spec: BuildSpec, existingKind: RelationKind | undefined, log: SqlLog): Promise<StepResult> {
    const ddl = this.adapter.ddl;
    const transactional = this.adapter.capabilities.transactionalDdl;
    const tmp = this.named(target, TMP_SUFFIX);
    const backup = this.named(target, BACKUP_SUFFIX);
    await this.dropIfExists(conn, tmp, log);
    await this.dropIfExists(conn, backup, log);
    const result = await this.buildAside(conn, tmp, spec, log);
    await this.relations.added(tmp, spec.kind);

    let movedAside = false;
    try {
      if (transactional) await this.run(conn, ddl.begin!(), log);
      if (existingKind) {
        await this.run(conn, ddl.renameRelation(target, existingKind, backup), log);
        movedAside = true;
      }
      await this.run(conn, ddl.renameRelation(tmp, spec.kind, target), log);
      if (transactional) {
        await spec.beforeCommit?.();
        await this.run(conn, ddl.commit!(), log);
      }
    } catch (e) {
      await this.recover(conn, { target, tmp, backup, existingKind, movedAside, transactional }, log);
      throw e;
    }
    await this.relations.dropped(tmp);
    await this.relations.added(target, spec.kind);
    // After commit, as dbt does: dropping inside the transaction holds locks longer (and Redshift objects).
    if (existingKind) {
      await this.relations.added(backup, existingKind);
      await this.drop(conn, backup, existingKind, log, target);
    }
    // Without a transaction the post-hooks cannot roll the swap back; they run once the backup is gone so a
    // failing hook leaves no stray relation behind.
    if (!transactional) await spec.beforeCommit?.();
    return result;
  }

  /** After a failed swap: roll back, or put the old relation back by hand; then drop the new one. */
  private async recover(
    conn: Connection,
    s: { target: RelationRef; tmp: RelationRef; backup: RelationRef; existingKind?: RelationKind; movedAside: boolean; transactional: boolean },
    log: SqlLog,
  ): Promise<void> {
    const ddl = this.adapter.ddl;
    const attempt = async (sql: string) => {
      try {
        await this.run(conn, sql, log);
      } catch {
        // the original error is the one to report
      }
    };
    if (s.transactional) await attempt(ddl.rollback!());
    else if (s.movedAside && s.existingKind) await attempt(ddl.renameRelation(s.backup, s.existingKind, s.target));
    this.relations.invalidate(s.target.database, s.target.schema);
    try {
      await this.dropIfExists(conn, s.tmp, log);
    } catch {
      // best effort: a leftover temporary relation is dropped by the next run
    }
  }

  /** Build at a temporary name; a multi-statement build (create, then load) that fails drops what it made. */
  private async buildAside(conn: Connection, tmp: RelationRef, spec: BuildSpec, log: SqlLog): Promise<StepResult> {
    try {
      return await spec.build(tmp, false);
    } catch (e) {
      this.relations.invalidate(tmp.database, tmp.schema);
      await this.dropIfExists(conn, tmp, log).catch(() => undefined);
      throw e;
    }
  }

  private async replaceInPlace(conn: Connection, target: RelationRef, spec: BuildSpec, existingKind: RelationKind | undefined, log: SqlLog): Promise<StepResult> {
    // A relation of another kind cannot be replaced by `create or replace`; dbt drops it first too.
    if (existingKind && existingKind !== spec.kind) await this.drop(conn, target, existingKind, log, target);
    if (spec.singleStatement) {
      const result = await spec.build(target, true);
      await this.relations.added(target, spec.kind);
      await spec.beforeCommit?.();
      return result;
    }
    // Multi-step builds (seeds) go to a temporary table first, then replace the target in one statement.
    const tmp = this.named(target, TMP_SUFFIX);
    await this.dropIfExists(conn, tmp, log);
    const result = await this.buildAside(conn, tmp, spec, log);
    await this.relations.added(tmp, 'table');
    try {
      const ddl = this.adapter.ddl;
      await this.run(conn, ddl.replaceFrom?.(target, tmp) ?? ddl.createTableAs(target, `select * from ${this.adapter.renderRelation(tmp)}`, { replace: true }), log);
    } finally {
      await this.dropIfExists(conn, tmp, log);
    }
    await this.relations.added(target, spec.kind);
    await spec.beforeCommit?.();
    return result;
  }

  /** A view or table from one SELECT: `create [or replace] view|table … as (select …)`. */
  async fromSelect(
    conn: Connection, kind: 'view' | 'table', target: RelationRef, sql: string,
    opts: { sqlHeader?: string; beforeCommit?: () => Promise<void>; config?: NodeConfigView }, log: SqlLog,
  ): Promise<StepResult> {
    const ddl = this.adapter.ddl;
    const { sqlHeader, config } = opts;
    return this.replace(conn, target, {
      kind,
      singleStatement: true,
      beforeCommit: opts.beforeCommit,
      build: async (rel, replace) => {
        const stmt = kind === 'view' ? ddl.createViewAs(rel, sql, { replace, sqlHeader, config }) : ddl.createTableAs(rel, sql, { replace, sqlHeader, config });
        log(stmt);
        return conn.execute(stmt);
      },
    }, log);
  }
}
