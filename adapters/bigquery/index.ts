/**
 * The BigQuery adapter, on @google-cloud/bigquery (REST, jobs).
 *
 * Profile fields (dbt-bigquery compatible): method (service-account | service-account-json | oauth |
 * oauth-secrets; default oauth), project (or database) and dataset (or schema) — required; location;
 * keyfile / keyfile_json; token, refresh_token, client_id, client_secret, token_uri (oauth-secrets); scopes;
 * priority (interactive | batch); job_timeout_ms; job_retries (1); maximum_bytes_billed;
 * impersonate_service_account; execution_project (where jobs run and are billed; default project);
 * api_endpoint (another endpoint, scheme included: tests point it at a local fake); threads.
 *
 * Relations are `` `project`.`dataset`.`table` ``; datasets are created on demand in `location`. Tables and
 * views are replaced in place (`create or replace`); BigQuery has no transactional DDL and cannot rename
 * views. Each node's bytes processed and billed go to its output line and run_results.
 *
 * @example
 * # profiles.yml
 * shop:
 *   target: dev
 *   outputs:
 *     dev: { type: bigquery, method: service-account, keyfile: /secrets/sa.json, project: my-project, dataset: analytics, location: EU, threads: 8 }
 */
import type {
  Adapter, AdapterCapabilities, AdapterFactory, BuiltRelation, Connection, DdlDialect, OpenOptions, SeedColumnStats, SeedColumnType, TargetConfig,
} from '../../src/adapter.js';
import { KilnError, type SourceLocation } from '../../src/errors.js';
import { BigQueryPool } from './connection.js';
import { PooledAdapter } from '../pooled.js';
import { bigqueryLiteral, makeBigQueryDdl, quoteBigQueryIdentifier, renderBigQueryRelation } from './ddl.js';
import { getBigQueryColumns, listBigQueryRelations } from './introspection.js';
import { bigqueryAfterBuild } from './postBuild.js';
import { makeAuthClient, SECRET_FIELDS, validateBigQueryFields, type BigQueryFields } from './profile.js';
import { loadBigQuerySeed } from './seed.js';
import { bigquerySnapshot } from './snapshot.js';
import { bigquerySeedType, bigqueryTypesMatch, normalizeBigQueryType } from './types.js';

export const bigqueryAdapterFactory: AdapterFactory = {
  type: 'bigquery',

  validateTarget(fields, location: SourceLocation) {
    const f = validateBigQueryFields(fields, location);
    return {
      type: 'bigquery',
      threads: typeof fields.threads === 'number' ? fields.threads : undefined,
      database: f.project,
      schema: f.dataset,
      secretFields: SECRET_FIELDS,
      fields: f as unknown as Record<string, unknown>,
    };
  },

  async open(config: TargetConfig, opts: OpenOptions): Promise<Adapter> {
    const f = config.fields as unknown as BigQueryFields;
    let authClient: unknown;
    try {
      authClient = await makeAuthClient(f, opts.projectDir);
    } catch (e) {
      throw new KilnError('config', `bigquery target: ${(e as Error).message}`, { hint: 'Check method and its credentials fields of this target in profiles.yml.' });
    }
    const pool = await BigQueryPool.open({
      project: f.project,
      executionProject: f.execution_project,
      location: f.location,
      priority: f.priority,
      jobTimeoutMs: f.job_timeout_ms,
      jobRetries: f.job_retries,
      maximumBytesBilled: f.maximum_bytes_billed,
      apiEndpoint: f.api_endpoint,
      authClient,
      labels: { kiln_project: labelValue(opts.projectName) },
    });
    return new BigQueryAdapter(pool, f.project, f.dataset, makeBigQueryDdl({ location: f.location }));
  },
};

/** A label value: lower case letters, digits, `_` and `-`, at most 63 characters. */
function labelValue(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
}

export class BigQueryAdapter extends PooledAdapter<BigQueryPool> implements Adapter {
  readonly type = 'bigquery';
  readonly capabilities: AdapterCapabilities = {
    transactionalDdl: false,
    createOrReplace: new Set(['table', 'view'] as const),
    // BigQuery renames tables (alter table … rename to) but not views or materialized views.
    renameable: new Set(['table'] as const),
    dropCascadesToDependents: false,
    maxIdentifierLength: 1024,
    constraintSupport: {
      not_null: 'enforced',
      unique: 'not_supported',
      primary_key: 'not_enforced',
      foreign_key: 'not_enforced',
      check: 'not_supported',
      custom: 'enforced',
    },
    constraintNotes: {
      primary_key: 'BigQuery declares primary keys as NOT ENFORCED (the optimizer trusts them).',
      foreign_key: 'BigQuery declares foreign keys as NOT ENFORCED (the optimizer trusts them).',
    },
    // dbt-bigquery's strategies; merge is its default.
    incrementalStrategies: ['merge', 'insert_overwrite', 'microbatch', 'append'],
  };
  readonly quoteSeedColumnsByDefault = true;
  readonly snapshot = bigquerySnapshot;

  constructor(
    pool: BigQueryPool,
    readonly defaultDatabase: string,
    readonly defaultSchema: string,
    readonly ddl: DdlDialect,
  ) {
    super(pool);
  }

  stringLiteral(value: string): string {
    return bigqueryLiteral(value);
  }

  quoteIdentifier(name: string): string {
    return quoteBigQueryIdentifier(name);
  }
  normalizeIdentifier(name: string): string {
    return name;
  }
  renderRelation = renderBigQueryRelation;
  normalizeType(dataType: string): string {
    return normalizeBigQueryType(dataType);
  }
  typesMatch(declared: string, actual: string): boolean {
    return bigqueryTypesMatch(declared, actual);
  }
  listRelations = listBigQueryRelations;
  getColumns = getBigQueryColumns;
  seedType(type: SeedColumnType, _stats: SeedColumnStats): string {
    return bigquerySeedType(type);
  }
  loadSeed = loadBigQuerySeed;
  afterBuild(conn: Connection, built: BuiltRelation, log: (sql: string) => void): Promise<void> {
    return bigqueryAfterBuild(conn, built, log);
  }
}
