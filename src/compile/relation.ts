/**
 * Relations as templates see them: `{{ ref('orders') }}` renders the quoted three-part name; attributes
 * (`.schema`, `.identifier`, `.include(database=false)`) work as in dbt. During parse a relation is a
 * placeholder (see placeholders.ts) whose attribute access marks the node for a second render at execute
 * time, because the final names are known only once every node's config is.
 */
import type { ResolvedRelation } from '../project/nodes.js';
import { splitArgs } from './jinja.js';

export interface RelationRenderer {
  renderRelation(rel: { database?: string; schema: string; identifier: string }): string;
  quoteIdentifier(name: string): string;
}

export type RelationType = 'table' | 'view' | 'cte' | 'materialized_view' | 'external' | null;

export class Relation {
  constructor(
    readonly database: string | undefined,
    readonly schema: string,
    readonly identifier: string,
    readonly type: RelationType,
    private readonly renderer: RelationRenderer,
    private readonly parts = { database: true, schema: true, identifier: true },
  ) {}

  static of(rel: ResolvedRelation, type: RelationType, renderer: RelationRenderer): Relation {
    return new Relation(rel.database, rel.schema, rel.identifier, type, renderer);
  }

  /** dbt packages test `obj.get('metadata', {}).get('type', '').endswith('Relation')` to spot relations. */
  readonly metadata = { type: 'KilnRelation' };

  get(key: string, fallback: unknown = null): unknown {
    const v = (this as unknown as Record<string, unknown>)[key];
    return v === undefined ? fallback : v;
  }

  get name() { return this.identifier; }
  get table() { return this.identifier; }
  get is_table() { return this.type === 'table'; }
  get is_view() { return this.type === 'view'; }
  get is_cte() { return this.type === 'cte'; }
  get is_materialized_view() { return this.type === 'materialized_view'; }

  render(): string {
    if (this.type === 'cte') return this.identifier;
    return this.renderer.renderRelation({
      database: this.parts.database ? this.database : undefined,
      schema: this.parts.schema ? this.schema : '',
      identifier: this.parts.identifier ? this.identifier : '',
    }).split('.').filter((p) => p !== '' && p !== '""' && p !== '``').join('.');
  }

  toString(): string {
    return this.render();
  }

  /** `relation.include(database=false)` — which parts render. */
  include(...args: unknown[]): Relation {
    const [, kw] = splitArgs(args);
    return new Relation(this.database, this.schema, this.identifier, this.type, this.renderer, {
      database: kw.database === undefined ? this.parts.database : !!kw.database,
      schema: kw.schema === undefined ? this.parts.schema : !!kw.schema,
      identifier: kw.identifier === undefined ? this.parts.identifier : !!kw.identifier,
    });
  }

  /** `relation.incorporate(path={'identifier': 'x'}, type='table')` — a copy with some parts changed. */
  incorporate(...args: unknown[]): Relation {
    const [, kw] = splitArgs(args);
    const path = (kw.path ?? {}) as Record<string, string>;
    return new Relation(path.database ?? this.database, path.schema ?? this.schema, path.identifier ?? this.identifier,
      (kw.type as RelationType) ?? this.type, this.renderer, this.parts);
  }

  without_identifier(): Relation {
    return this.include({ __keywords: true, identifier: false });
  }

  quote(): Relation {
    return this;
  }

  toJSON() {
    return { database: this.database, schema: this.schema, identifier: this.identifier, type: this.type };
  }
}

/**
 * An upstream relation seen from one microbatch batch: it prints as the rows of the batch's window only
 * (`{{ ref('events') }}` → a filtered subquery, dbt's semantics), while `.render()` gives the whole relation.
 */
export class EventTimeFilteredRelation extends Relation {
  constructor(
    base: Relation,
    private readonly renderer_: RelationRenderer,
    private readonly column: string,
    private readonly start: string,
    private readonly end: string,
  ) {
    super(base.database, base.schema, base.identifier, base.type, renderer_);
  }

  override toString(): string {
    const alias = this.renderer_.quoteIdentifier(`_dbt_et_filter_subq_${this.identifier}`);
    return `(select * from ${this.render()} where ${this.column} >= ${this.start} and ${this.column} < ${this.end}) ${alias}`;
  }
}
