/**
 * The Postgres adapter, on `pg`: Kiln's first client–server warehouse (and the base of the Redshift one).
 *
 * Profile fields (dbt-postgres compatible):
 *   host, port (5432), user, password (or pass), dbname (or database), schema — host, user, dbname and
 *   schema are required; sslmode disable|allow|prefer (default)|require|verify-ca|verify-full with
 *   sslrootcert, sslcert, sslkey; connect_timeout (s, 10), keepalives_idle (s, 0 = OS default),
 *   search_path, role, application_name ('kiln'), retries (1: transient connect failures are retried with
 *   backoff), threads.
 *
 * @example
 * # profiles.yml
 * shop:
 *   target: dev
 *   outputs:
 *     dev: { type: postgres, host: 127.0.0.1, user: kiln, password: "{{ env_var('PGPASSWORD') }}", dbname: shop, schema: analytics, threads: 4 }
 */
import type {
  Adapter, AdapterCapabilities, AdapterFactory, BuiltRelation, Connection, DdlDialect, OpenOptions, SeedColumnStats, SeedColumnType, TargetConfig,
} from '../../src/adapter.js';
import type { SourceLocation } from '../../src/errors.js';
import { PgPool, type PgSettings } from './connection.js';
import { PooledAdapter } from '../pooled.js';
import { postgresDdl, quotePostgresIdentifier, renderPostgresRelation } from './ddl.js';
import { getPostgresColumns, listPostgresRelations, postgresDependentViews } from './introspection.js';
import { postgresAfterBuild } from './postBuild.js';
import { SSL_MODES, sslOptions, TargetFields, type SslMode } from './profile.js';
import { loadPostgresSeed } from './seed.js';
import { normalizePostgresType, postgresSeedType, postgresTypesMatch } from './types.js';

const KNOWN_FIELDS = new Set([
  'type', 'host', 'port', 'user', 'password', 'pass', 'dbname', 'database', 'schema', 'threads', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
  'connect_timeout', 'keepalives_idle', 'search_path', 'role', 'application_name', 'retries',
]);

/**
 * Validate the fields every Postgres-protocol target shares; returns them with defaults, flat and named as
 * dbt names them (they become the `target` template variable, secrets removed).
 */
export function commonPgFields(f: TargetFields, defaults: { port: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {
    host: f.string('host', { required: true })!,
    port: f.int('port', defaults.port, 1, 65535),
    user: f.string('user', { required: true })!,
    dbname: f.name('dbname', { required: true, aliases: ['database'] })!,
    schema: f.name('schema', { required: true })!,
    sslmode: f.oneOf('sslmode', SSL_MODES, 'prefer'),
    connect_timeout: f.int('connect_timeout', 10, 1, 3600),
    keepalives_idle: f.int('keepalives_idle', 0, 0, 86400),
    application_name: f.string('application_name') ?? 'kiln',
    retries: f.int('retries', 1, 0, 20),
  };
  const optional = { password: f.string('password', { aliases: ['pass'] }), sslrootcert: f.string('sslrootcert'), sslcert: f.string('sslcert'), sslkey: f.string('sslkey'), search_path: f.string('search_path'), role: f.string('role') };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) out[k] = v;
  return out;
}

/** The validated target of a Postgres-protocol adapter, from `commonPgFields`' answer (and its own fields). */
export function pgTargetConfig(type: string, fields: Record<string, unknown>, out: Record<string, unknown>): TargetConfig {
  return {
    type,
    threads: typeof fields.threads === 'number' ? fields.threads : undefined,
    database: out.dbname as string,
    schema: out.schema as string,
    secretFields: ['password', 'pass'],
    fields: out,
  };
}

/** Connection settings from validated fields; certificate files are read here, relative to the project. */
export function pgSettings(fields: Record<string, unknown>, projectDir: string, label: string): PgSettings {
  const str = (k: string) => fields[k] as string | undefined;
  const f = new TargetFields(label, {}, undefined, new Set());
  const sslmode = fields.sslmode as SslMode;
  return {
    host: str('host')!,
    port: fields.port as number,
    user: str('user')!,
    password: str('password'),
    database: str('dbname')!,
    ssl: sslOptions(sslmode, { rootCert: str('sslrootcert'), cert: str('sslcert'), key: str('sslkey') }, projectDir, f),
    sslPrefer: sslmode === 'prefer',
    connectTimeoutSeconds: fields.connect_timeout as number,
    keepalivesIdleSeconds: fields.keepalives_idle as number,
    applicationName: str('application_name') ?? 'kiln',
    searchPath: str('search_path'),
    role: str('role'),
    retries: fields.retries as number,
    label,
  };
}

export const postgresAdapterFactory: AdapterFactory = {
  type: 'postgres',

  validateTarget(fields, location: SourceLocation, project) {
    void project;
    const f = new TargetFields('postgres', fields, location, KNOWN_FIELDS);
    return pgTargetConfig('postgres', fields, commonPgFields(f, { port: 5432 }));
  },

  async open(config: TargetConfig, opts: OpenOptions): Promise<Adapter> {
    const pool = await PgPool.open(pgSettings(config.fields, opts.projectDir, 'postgres'), opts.threads);
    return new PostgresAdapter(pool, config.database as string, config.schema);
  },
};

export class PostgresAdapter extends PooledAdapter<PgPool> implements Adapter {
  readonly type: string = 'postgres';
  readonly capabilities: AdapterCapabilities = {
    transactionalDdl: true,
    createOrReplace: new Set(),
    renameable: new Set(['table', 'view', 'materialized_view'] as const),
    dropCascadesToDependents: true,
    maxIdentifierLength: 63,
    constraintSupport: {
      not_null: 'enforced',
      unique: 'enforced',
      primary_key: 'enforced',
      check: 'enforced',
      foreign_key: 'enforced',
      custom: 'enforced',
    },
    // MERGE needs PostgreSQL 15 or later; older servers get a clear error from the server.
    incrementalStrategies: ['append', 'merge', 'delete+insert', 'insert_overwrite', 'microbatch'],
  };
  readonly quoteSeedColumnsByDefault: boolean = true;
  readonly ddl: DdlDialect = postgresDdl;

  constructor(
    pool: PgPool,
    readonly defaultDatabase: string,
    readonly defaultSchema: string,
  ) {
    super(pool);
  }

  quoteIdentifier(name: string): string {
    return quotePostgresIdentifier(name);
  }
  normalizeIdentifier(name: string): string {
    return name;
  }
  renderRelation = renderPostgresRelation;
  normalizeType(dataType: string): string {
    return normalizePostgresType(dataType);
  }
  typesMatch(declared: string, actual: string): boolean {
    return postgresTypesMatch(declared, actual);
  }
  listRelations = listPostgresRelations;
  getColumns = getPostgresColumns;
  dependentViews = postgresDependentViews;
  seedType(type: SeedColumnType, _stats: SeedColumnStats): string {
    return postgresSeedType(type);
  }
  loadSeed = loadPostgresSeed;
  afterBuild(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
    return postgresAfterBuild(conn, built, log);
  }
}
