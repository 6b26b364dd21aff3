/**
 * The Redshift adapter: the Postgres adapter (same wire protocol, `pg` pool, COPY seeds, catalog queries,
 * cancellation) with Redshift's profile, DDL (dist/sort/backup, late-binding views), types and limits.
 *
 * Profile fields (dbt-redshift compatible): host, port (5439), user, password, dbname, schema, sslmode,
 * sslrootcert, connect_timeout, keepalives_idle, search_path, role, application_name, retries, threads,
 * ra3_node (cross-database refs on RA3 nodes), autocommit (Kiln runs statements in autocommit and opens
 * its own transactions for swaps, as dbt-redshift's default `autocommit: true` does), and `method: iam`
 * with cluster_id, region, iam_profile, iam_duration_seconds, db_groups, autocreate — validated, but
 * IAM authentication itself is not implemented in this version (opening such a target says so).
 *
 * Tests only: with KILN_TEST_REDSHIFT_ON_POSTGRES=1 the DDL leaves out what PostgreSQL cannot parse
 * (dist/sort/backup, `with no schema binding`) and the adapter runs against a PostgreSQL server.
 *
 * @example
 * # profiles.yml
 * shop:
 *   target: prod
 *   outputs:
 *     prod: { type: redshift, host: x.abc.eu-west-1.redshift.amazonaws.com, user: kiln, password: "{{ env_var('RS_PASSWORD') }}", dbname: shop, schema: analytics }
 */
import type {
  AdapterCapabilities, AdapterFactory, BuiltRelation, Connection, DdlDialect, OpenOptions, SeedColumnStats, SeedColumnType, TargetConfig,
} from '../../src/adapter.js';
import { KilnError, type SourceLocation } from '../../src/errors.js';
import { PgPool } from '../postgres/connection.js';
import { commonPgFields, pgSettings, pgTargetConfig, PostgresAdapter } from '../postgres/index.js';
import { postgresAfterBuild, readPostgresGrants, type GrantReader } from '../postgres/postBuild.js';
import { TargetFields } from '../postgres/profile.js';
import { REDSHIFT_MAX_IDENTIFIER, redshiftDdl } from './ddl.js';
import { normalizeRedshiftType, redshiftSeedType, redshiftTypesMatch } from './types.js';

const KNOWN_FIELDS = new Set([
  'type', 'host', 'port', 'user', 'password', 'pass', 'dbname', 'database', 'schema', 'threads', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
  'connect_timeout', 'keepalives_idle', 'search_path', 'role', 'application_name', 'retries',
  'method', 'cluster_id', 'region', 'iam_profile', 'iam_duration_seconds', 'db_groups', 'autocreate', 'ra3_node', 'autocommit',
]);

/** The test-only switch for running the Redshift adapter against PostgreSQL. */
export function redshiftOnPostgres(): boolean {
  return process.env.KILN_TEST_REDSHIFT_ON_POSTGRES === '1';
}

export const redshiftAdapterFactory: AdapterFactory = {
  type: 'redshift',
  parentTypes: ['postgres'],

  validateTarget(fields, location: SourceLocation, project) {
    void project;
    const f = new TargetFields('redshift', fields, location, KNOWN_FIELDS);
    const out = commonPgFields(f, { port: 5439 });
    const method = f.oneOf('method', ['database', 'iam'] as const, 'database');
    out.method = method;
    out.ra3_node = f.bool('ra3_node', false);
    out.autocommit = f.bool('autocommit', true);
    if (method === 'database') {
      if (out.password === undefined) f.fail("field 'password' is required with method: database", 'Set password (for example from an env_var), or use method: iam.');
      for (const k of ['cluster_id', 'iam_profile', 'iam_duration_seconds', 'db_groups', 'autocreate']) {
        if (fields[k] !== undefined) f.fail(`field '${k}' belongs to method: iam`, 'Remove it, or set method: iam.');
      }
    } else {
      const cluster = f.string('cluster_id', { required: true })!;
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(cluster) || cluster.endsWith('-') || cluster.includes('--')) {
        f.fail(`cluster_id '${cluster}' is not a Redshift cluster identifier`, 'Identifiers are lower-case letters, digits and single hyphens, starting with a letter.');
      }
      out.cluster_id = cluster;
      const region = f.string('region');
      if (region !== undefined && !/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/.test(region)) f.fail(`region '${region}' is not an AWS region name`, 'Example: region: eu-west-1');
      if (region !== undefined) out.region = region;
      const profile = f.string('iam_profile');
      if (profile !== undefined) out.iam_profile = profile;
      out.iam_duration_seconds = f.int('iam_duration_seconds', 900, 900, 3600);
      const groups = fields.db_groups;
      if (groups !== undefined && (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string'))) f.fail("field 'db_groups' must be a list of group names");
      if (groups !== undefined) out.db_groups = groups;
      out.autocreate = f.bool('autocreate', false);
    }
    return pgTargetConfig('redshift', fields, out);
  },

  async open(config: TargetConfig, opts: OpenOptions) {
    if (config.fields.method === 'iam') {
      throw new KilnError('config', 'redshift target: method: iam is validated but IAM authentication is not available in this version of Kiln', {
        hint: 'Use method: database with user and password (temporary credentials from `aws redshift get-cluster-credentials` work as a password).',
      });
    }
    const pool = await PgPool.open(pgSettings(config.fields, opts.projectDir, 'redshift'), opts.threads);
    return new RedshiftAdapter(pool, config.database as string, config.schema, redshiftOnPostgres());
  },
};

/** Redshift's privileges on a relation, from svv_relation_privileges (pg_class.relacl has Redshift's own format). */
const readRedshiftGrants: GrantReader = async (conn, built) => {
  const res = await conn.execute(
    `select identity_name as grantee, lower(privilege_type) as privilege
       from svv_relation_privileges
      where namespace_name = $1 and relation_name = $2 and identity_type in ('user', 'role', 'group', 'public')
        and identity_name <> current_user`,
    { params: [built.relation.schema, built.relation.identifier] },
  );
  const current = new Map<string, Set<string>>();
  for (const r of res.rows) {
    const p = String(r.privilege);
    if (!current.has(p)) current.set(p, new Set());
    current.get(p)!.add(String(r.grantee) === 'public' ? 'PUBLIC' : String(r.grantee));
  }
  return current;
};

class RedshiftAdapter extends PostgresAdapter {
  override readonly type = 'redshift';
  override readonly capabilities: AdapterCapabilities = {
    transactionalDdl: true,
    createOrReplace: new Set(),
    // Redshift cannot rename materialized views.
    renameable: new Set(['table', 'view'] as const),
    dropCascadesToDependents: true,
    maxIdentifierLength: REDSHIFT_MAX_IDENTIFIER,
    constraintSupport: {
      not_null: 'enforced',
      unique: 'not_enforced',
      primary_key: 'not_enforced',
      foreign_key: 'not_enforced',
      check: 'not_supported',
      custom: 'enforced',
    },
    constraintNotes: {
      check: 'Redshift has no check constraints; test the rule with a data test instead.',
    },
    incrementalStrategies: ['append', 'merge', 'delete+insert', 'microbatch'],
  };
  override readonly ddl: DdlDialect;

  constructor(pool: PgPool, defaultDatabase: string, defaultSchema: string, private readonly onPostgres: boolean) {
    super(pool, defaultDatabase, defaultSchema);
    this.ddl = redshiftDdl({ postgresCompatible: onPostgres });
  }

  override normalizeType(dataType: string): string {
    return normalizeRedshiftType(dataType);
  }
  override typesMatch(declared: string, actual: string): boolean {
    return redshiftTypesMatch(declared, actual);
  }
  override seedType(type: SeedColumnType, stats: SeedColumnStats): string {
    return redshiftSeedType(type, stats);
  }
  override afterBuild(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
    // Redshift has no indexes (dist and sort keys take their place).
    return postgresAfterBuild(conn, built, log, { indexes: false, readGrants: this.onPostgres ? readPostgresGrants : readRedshiftGrants });
  }
}
