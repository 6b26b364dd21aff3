/**
 * What relations exist in the warehouse, cached for the run: each schema is listed at most once, and Kiln's
 * own DDL keeps the cache current (create, rename, drop), so nothing re-lists schemas per model.
 */
import type { Adapter, Connection, RelationInfo, RelationKind, RelationRef } from '../adapter.js';

const key = (database: string | undefined, schema: string) => `${database ?? ''}\0${schema}`.toLowerCase();

export class RelationCache {
  private readonly schemas = new Map<string, Promise<Map<string, RelationInfo>>>();

  constructor(private readonly adapter: Adapter) {}

  private schema(conn: Connection | undefined, database: string | undefined, schema: string): Promise<Map<string, RelationInfo>> {
    const k = key(database, schema);
    let entry = this.schemas.get(k);
    if (!entry) {
      const list = (c: Connection) => this.adapter.listRelations(c, database, schema);
      const listed = conn ? list(conn) : this.adapter.withConnection(list);
      entry = listed.then((rels) => new Map(rels.map((r) => [r.identifier.toLowerCase(), r])));
      entry.catch(() => this.schemas.delete(k));
      this.schemas.set(k, entry);
    }
    return entry;
  }

  async get(rel: RelationRef, conn?: Connection): Promise<RelationInfo | undefined> {
    const rels = await this.schema(conn, rel.database, rel.schema);
    return rels.get(rel.identifier.toLowerCase());
  }

  async schemaKnown(database: string | undefined, schema: string): Promise<boolean> {
    return this.schemas.has(key(database, schema));
  }

  async list(database: string | undefined, schema: string, conn?: Connection): Promise<RelationInfo[]> {
    return [...(await this.schema(conn, database, schema)).values()];
  }

  /** Record a relation Kiln created (or renamed into place). */
  async added(rel: RelationRef, kind: RelationKind): Promise<void> {
    const k = key(rel.database, rel.schema);
    const entry = this.schemas.get(k);
    if (!entry) return; // never listed: the next get() lists it fresh
    (await entry).set(rel.identifier.toLowerCase(), { ...rel, kind });
  }

  async dropped(rel: RelationRef): Promise<void> {
    const entry = this.schemas.get(key(rel.database, rel.schema));
    if (!entry) return;
    (await entry).delete(rel.identifier.toLowerCase());
  }

  /** Forget a schema (after a failed transaction, the warehouse is the truth again). */
  invalidate(database: string | undefined, schema: string): void {
    this.schemas.delete(key(database, schema));
  }
}
