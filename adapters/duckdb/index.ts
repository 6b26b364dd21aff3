/**
 * The DuckDB adapter: embedded, zero-setup, Kiln's default target.
 *
 * Profile fields (dbt-duckdb compatible where they overlap):
 *   path: file path (relative to the project dir) or `:memory:`; default `target/<project>.duckdb`
 *   schema: default schema, `main` by default
 *   threads, settings: {key: value} passed to DuckDB at open, extensions: [name] loaded at open
 *
 * @example
 * # profiles.yml
 * shop:
 *   target: dev
 *   outputs:
 *     dev: { type: duckdb, path: target/shop.duckdb, threads: 4 }
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import type { Adapter, AdapterCapabilities, AdapterFactory, OpenOptions, TargetConfig } from '../../src/adapter.js';
import { KilnError } from '../../src/errors.js';
import { DuckDBPool } from './connection.js';
import { LazyPool, PooledAdapter, type ConnectionPool } from '../pooled.js';
import { duckdbDdl, quoteDuckdbIdentifier, renderDuckdbRelation } from './ddl.js';
import { getDuckdbColumns, listDuckdbRelations } from './introspection.js';
import { loadDuckdbSeed } from './seed.js';
import { duckdbSnapshot } from './snapshot.js';
import { duckdbSeedType, duckdbTypesMatch, normalizeDuckdbType } from './types.js';

const KNOWN_FIELDS = new Set(['type', 'path', 'schema', 'database', 'threads', 'settings', 'extensions']);

export const duckdbAdapterFactory: AdapterFactory = {
  type: 'duckdb',

  validateTarget(fields, location, project) {
    for (const key of Object.keys(fields)) {
      if (!KNOWN_FIELDS.has(key)) {
        throw new KilnError('config', `unknown field '${key}' in a duckdb target`, {
          location,
          hint: `duckdb targets accept: ${[...KNOWN_FIELDS].join(', ')}.`,
        });
      }
    }
    const str = (key: string): string | undefined => {
      const v = fields[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string') throw new KilnError('config', `duckdb target field '${key}' must be a string`, { location });
      return v;
    };
    const path = str('path');
    const settings = fields.settings ?? {};
    if (typeof settings !== 'object' || Array.isArray(settings)) {
      throw new KilnError('config', `duckdb target field 'settings' must be a mapping`, { location });
    }
    const extensions = fields.extensions ?? [];
    if (!Array.isArray(extensions)) {
      throw new KilnError('config', `duckdb target field 'extensions' must be a list`, { location });
    }
    const resolvedPath =
      path === undefined ? resolve(project.dir, 'target', `${project.name}.duckdb`)
      : path === ':memory:' || isAbsolute(path) ? path : resolve(project.dir, path);
    const schema = str('schema') ?? 'main';
    return {
      type: 'duckdb',
      threads: typeof fields.threads === 'number' ? fields.threads : undefined,
      database: resolvedPath === ':memory:' ? 'memory' : basename(resolvedPath, extname(resolvedPath)),
      schema,
      secretFields: [],
      fields: { path: resolvedPath, schema, settings, extensions },
    };
  },

  async open(config: TargetConfig, opts: OpenOptions): Promise<Adapter> {
    const path = config.fields.path as string;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const settings = Object.fromEntries(
      Object.entries(config.fields.settings as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
    const openPool = async (): Promise<DuckDBPool> => {
      let pool: DuckDBPool;
      try {
        pool = await DuckDBPool.open(path, opts.threads, settings);
      } catch (e) {
        throw new KilnError('database', `could not open the DuckDB database at ${path}: ${(e as Error).message}`, {
          hint: 'Another process may hold the file open; close it, or set a different `path` in profiles.yml.',
        });
      }
      for (const ext of config.fields.extensions as string[]) {
        await pool.withConnection((c) => c.execute(`load ${quoteDuckdbIdentifier(ext)}`));
      }
      return pool;
    };
    const pool = opts.connectLazily ? new LazyPool(openPool) : await openPool();
    return new DuckDBAdapter(pool, config.database as string, config.schema);
  },
};

class DuckDBAdapter extends PooledAdapter<ConnectionPool> implements Adapter {
  readonly type = 'duckdb';
  readonly capabilities = {
    transactionalDdl: true,
    createOrReplace: new Set(['table', 'view'] as const),
    renameable: new Set(['table', 'view'] as const),
    dropCascadesToDependents: false,
    // DuckDB has no identifier limit worth the name; keep temporary names readable.
    maxIdentifierLength: 255,
    constraintSupport: {
      not_null: 'enforced',
      unique: 'enforced',
      primary_key: 'enforced',
      check: 'enforced',
      // DuckDB enforces foreign keys, but a table referenced by one can then be neither renamed nor dropped
      // ("Cannot alter entry … because there are entries that depend on it"): the referenced model could
      // never be rebuilt by the rename swap. Kiln leaves them out of the DDL.
      foreign_key: 'not_supported',
      custom: 'enforced',
    },
    incrementalStrategies: ['append', 'merge', 'delete+insert', 'insert_overwrite', 'microbatch'],
    constraintNotes: {
      foreign_key: 'A DuckDB foreign key pins the table it references (it can no longer be renamed or dropped), so the '
        + 'referenced model could not be rebuilt; Kiln leaves foreign keys out of the DDL. Test the relationship with a '
        + '`relationships` data test instead.',
    },
  } satisfies AdapterCapabilities;
  readonly quoteSeedColumnsByDefault = true;
  readonly ddl = duckdbDdl;
  readonly snapshot = duckdbSnapshot;

  constructor(
    pool: ConnectionPool,
    readonly defaultDatabase: string,
    readonly defaultSchema: string,
  ) {
    super(pool);
  }

  quoteIdentifier = quoteDuckdbIdentifier;
  normalizeIdentifier(name: string) {
    return name;
  }
  renderRelation = renderDuckdbRelation;
  normalizeType = normalizeDuckdbType;
  typesMatch = duckdbTypesMatch;
  listRelations = listDuckdbRelations;
  getColumns = getDuckdbColumns;
  seedType = duckdbSeedType;
  loadSeed = loadDuckdbSeed;
}
