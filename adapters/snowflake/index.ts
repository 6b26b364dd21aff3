/**
 * The Snowflake adapter, on snowflake-sdk.
 *
 * Profile fields (dbt-snowflake compatible):
 *   account, user, database, schema (required); role, warehouse; one way to authenticate:
 *   password (authenticator snowflake, the default) | private_key_path or private_key (PEM, or base64 DER)
 *   with private_key_passphrase (key pair, authenticator snowflake_jwt) | authenticator: externalbrowser
 *   (browser SSO, interactive only) | authenticator: oauth with token;
 *   query_tag (every session's tag; a model's query_tag config overrides it for that model),
 *   client_session_keep_alive (false), connect_retries (1: transient login failures are retried with
 *   backoff), threads, and access_url (`https://<account>.snowflakecomputing.com` by default; tests point it
 *   at a local fake).
 *
 * Names follow Snowflake's rules: unquoted identifiers fold to upper case, the project's `quoting:` config
 * decides which parts are quoted (nothing by default, as in dbt-snowflake), and catalog lookups resolve
 * names as Snowflake does. Relations are replaced in place (`create or replace`); DDL autocommits.
 *
 * @example
 * # profiles.yml
 * shop:
 *   target: dev
 *   outputs:
 *     dev: { type: snowflake, account: ab12345.eu-west-1, user: KILN, password: "{{ env_var('SNOWFLAKE_PASSWORD') }}",
 *            role: TRANSFORMER, warehouse: TRANSFORMING, database: ANALYTICS, schema: DBT_ANN, threads: 8 }
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type {
  Adapter, AdapterCapabilities, AdapterFactory, Connection, DdlDialect, OpenOptions, RelationRef, SeedColumnStats, SeedColumnType,
  SnapshotDialect, TargetConfig,
} from '../../src/adapter.js';
import { KilnError, type SourceLocation } from '../../src/errors.js';
import { TargetFields } from '../postgres/profile.js';
import { SnowflakePool, type SnowflakeSettings } from './connection.js';
import { PooledAdapter } from '../pooled.js';
import { DEFAULT_QUOTE_POLICY, quoteSnowflakeIdentifier, SNOWFLAKE_MAX_IDENTIFIER, snowflakeDdl, SnowflakeNames, snowflakeSnapshot } from './ddl.js';
import { getSnowflakeColumns, listSnowflakeRelations } from './introspection.js';
import { loadSnowflakeSeed } from './seed.js';
import { normalizeSnowflakeType, snowflakeSeedType, snowflakeTypesMatch } from './types.js';

const KNOWN_FIELDS = new Set([
  'type', 'account', 'user', 'password', 'private_key_path', 'private_key', 'private_key_passphrase', 'authenticator', 'token',
  'role', 'warehouse', 'database', 'schema', 'query_tag', 'client_session_keep_alive', 'connect_retries', 'access_url', 'threads',
]);

export const AUTHENTICATORS = ['snowflake', 'snowflake_jwt', 'externalbrowser', 'oauth'] as const;
type Authenticator = (typeof AUTHENTICATORS)[number];

export const snowflakeAdapterFactory: AdapterFactory = {
  type: 'snowflake',

  validateTarget(fields, location: SourceLocation, project) {
    void project;
    const f = new TargetFields('snowflake', fields, location, KNOWN_FIELDS);
    const account = f.string('account', { required: true })!.trim();
    // An account identifier (orgname-account, or a locator with region/cloud), not a URL.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(account) || /snowflakecomputing/i.test(account)) {
      f.fail(`account '${account}' is not a Snowflake account identifier`, 'Write the account without the domain, e.g. account: myorg-myaccount or account: ab12345.eu-west-1');
    }
    const out: Record<string, unknown> = {
      account,
      database: f.name('database', { required: true })!,
      schema: f.name('schema', { required: true })!,
      client_session_keep_alive: f.bool('client_session_keep_alive', false),
      connect_retries: f.int('connect_retries', 1, 0, 20),
    };
    const raw = f.string('authenticator');
    const asked = raw?.trim().toLowerCase();
    if (asked !== undefined && !(AUTHENTICATORS as readonly string[]).includes(asked)) {
      f.fail(`authenticator '${raw}' is not supported`, `Use one of: ${AUTHENTICATORS.join(', ')} (or leave it out for user and password).`);
    }
    const password = f.string('password');
    const keyPath = f.string('private_key_path');
    const key = f.string('private_key');
    const passphrase = f.string('private_key_passphrase');
    const token = f.string('token');
    if (keyPath !== undefined && key !== undefined) f.fail("set either 'private_key_path' or 'private_key', not both");
    const hasKey = keyPath !== undefined || key !== undefined;
    const authenticator: Authenticator = asked as Authenticator | undefined ?? (hasKey ? 'snowflake_jwt' : 'snowflake');
    const user = f.string('user', { required: authenticator !== 'oauth' });
    if (user !== undefined) out.user = user;
    out.authenticator = authenticator;
    const only = (allowed: string[]) => {
      for (const [k, v] of Object.entries({ password, private_key_path: keyPath, private_key: key, private_key_passphrase: passphrase, token })) {
        if (v !== undefined && !allowed.includes(k)) f.fail(`field '${k}' does not belong with authenticator ${authenticator}`, 'Remove it, or change the authenticator.');
      }
    };
    switch (authenticator) {
      case 'snowflake':
        only(['password']);
        if (password === undefined) f.fail("field 'password' is required", 'Set password (for example from an env_var), or use a key pair (private_key_path), authenticator: externalbrowser or authenticator: oauth.');
        out.password = password;
        break;
      case 'snowflake_jwt':
        only(['private_key_path', 'private_key', 'private_key_passphrase']);
        if (!hasKey) f.fail("authenticator snowflake_jwt needs 'private_key_path' or 'private_key'");
        if (keyPath !== undefined) out.private_key_path = keyPath;
        if (key !== undefined) out.private_key = key;
        if (passphrase !== undefined) out.private_key_passphrase = passphrase;
        break;
      case 'externalbrowser':
        only([]);
        break;
      case 'oauth':
        only(['token']);
        if (token === undefined || token.trim() === '') f.fail("authenticator oauth needs 'token' (the OAuth access token)", "Set token: \"{{ env_var('SNOWFLAKE_OAUTH_TOKEN') }}\".");
        out.token = token;
        break;
    }
    for (const k of ['role', 'warehouse', 'query_tag'] as const) {
      const v = f.string(k);
      if (v !== undefined) out[k] = v;
    }
    const accessUrl = f.string('access_url');
    if (accessUrl !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(accessUrl);
      } catch {
        url = undefined;
      }
      if (!url || !/^https?:$/.test(url.protocol)) f.fail(`access_url '${accessUrl}' is not an http(s) URL`, 'Example: access_url: https://myorg-myaccount.snowflakecomputing.com');
      out.access_url = accessUrl.replace(/\/+$/, '');
    }
    return {
      type: 'snowflake',
      threads: typeof fields.threads === 'number' ? fields.threads : undefined,
      database: out.database as string,
      schema: out.schema as string,
      secretFields: ['password', 'private_key', 'private_key_passphrase', 'token'],
      fields: out,
    };
  },

  async open(config: TargetConfig, opts: OpenOptions): Promise<Adapter> {
    // Parts the project's quoting: leaves unset stay unquoted (dbt-snowflake's default).
    const names = new SnowflakeNames({ ...DEFAULT_QUOTE_POLICY, ...opts.quoting });
    const pool = await SnowflakePool.open(snowflakeSettings(config.fields, opts.projectDir), opts.threads);
    return new SnowflakeAdapter(pool, names, config.database, config.schema);
  },
};

/** A private key as unencrypted PKCS#8 PEM (what snowflake-sdk signs its login token with). */
function privateKeyPem(fields: Record<string, unknown>, projectDir: string): string {
  const passphrase = fields.private_key_passphrase as string | undefined;
  const fail = (what: string, e: unknown) => new KilnError('config', `snowflake target: cannot read the private key ${what}: ${(e as Error).message}`, {
    hint: 'The key must be PKCS#8 (PEM, or base64 DER for private_key); an encrypted key needs private_key_passphrase.',
  });
  let source: { key: string | Buffer; format: 'pem' | 'der'; type?: 'pkcs8' };
  let what: string;
  if (fields.private_key_path !== undefined) {
    const path = String(fields.private_key_path);
    const abs = isAbsolute(path) ? path : resolve(projectDir, path);
    what = `file '${path}'`;
    try {
      source = { key: readFileSync(abs, 'utf8'), format: 'pem' };
    } catch (e) {
      throw fail(what, e);
    }
  } else {
    const text = String(fields.private_key).trim();
    what = 'in private_key';
    source = text.startsWith('-----BEGIN') ? { key: text, format: 'pem' } : { key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'pkcs8' };
  }
  try {
    return createPrivateKey({ ...source, passphrase }).export({ format: 'pem', type: 'pkcs8' }).toString();
  } catch (e) {
    throw fail(what, e);
  }
}

/** snowflake-sdk connection options from validated fields. */
export function snowflakeSettings(fields: Record<string, unknown>, projectDir: string): SnowflakeSettings {
  const str = (k: string) => fields[k] as string | undefined;
  const authenticator = str('authenticator') as Authenticator;
  const connection: Record<string, unknown> = {
    account: str('account'),
    username: str('user'),
    database: str('database'),
    schema: str('schema'),
    warehouse: str('warehouse'),
    role: str('role'),
    application: 'kiln',
    clientSessionKeepAlive: fields.client_session_keep_alive === true,
    accessUrl: str('access_url'),
  };
  switch (authenticator) {
    case 'snowflake': connection.password = str('password'); break;
    case 'snowflake_jwt': connection.authenticator = 'SNOWFLAKE_JWT'; connection.privateKey = privateKeyPem(fields, projectDir); break;
    case 'externalbrowser': connection.authenticator = 'EXTERNALBROWSER'; break;
    case 'oauth': connection.authenticator = 'OAUTH'; connection.token = str('token'); break;
  }
  for (const [k, v] of Object.entries(connection)) if (v === undefined) delete connection[k];
  return {
    connection,
    queryTag: str('query_tag'),
    connectRetries: (fields.connect_retries as number | undefined) ?? 1,
    account: str('account') ?? '',
    user: str('user') ?? '',
  };
}

export class SnowflakeAdapter extends PooledAdapter<SnowflakePool> implements Adapter {
  readonly type = 'snowflake';
  readonly capabilities: AdapterCapabilities = {
    // DDL commits implicitly: relations are replaced in place with `create or replace`.
    transactionalDdl: false,
    // DML runs in transactions (DDL commits by itself): an incremental's delete and insert are all or none.
    transactionalDml: true,
    createOrReplace: new Set(['table', 'view'] as const),
    renameable: new Set(['table', 'view'] as const),
    dropCascadesToDependents: false,
    maxIdentifierLength: SNOWFLAKE_MAX_IDENTIFIER,
    constraintSupport: {
      not_null: 'enforced',
      unique: 'not_enforced',
      primary_key: 'not_enforced',
      foreign_key: 'not_enforced',
      check: 'not_supported',
      custom: 'enforced',
    },
    constraintNotes: {
      check: 'Snowflake has no check constraints; test the rule with a data test instead.',
    },
    // dbt-snowflake's default strategy is merge.
    incrementalStrategies: ['merge', 'append', 'delete+insert', 'insert_overwrite', 'microbatch'],
  };
  readonly quoteSeedColumnsByDefault = false;
  readonly ddl: DdlDialect;
  readonly snapshot: SnapshotDialect = snowflakeSnapshot;

  constructor(
    pool: SnowflakePool,
    readonly names: SnowflakeNames,
    readonly defaultDatabase: string | undefined,
    readonly defaultSchema: string,
  ) {
    super(pool);
    this.ddl = snowflakeDdl(names);
  }

  quoteIdentifier(name: string): string {
    return quoteSnowflakeIdentifier(name);
  }
  normalizeIdentifier(name: string): string {
    return name.toUpperCase();
  }
  renderRelation(rel: RelationRef): string {
    return this.names.render(rel);
  }
  normalizeType(dataType: string): string {
    return normalizeSnowflakeType(dataType);
  }
  typesMatch(declared: string, actual: string): boolean {
    return snowflakeTypesMatch(declared, actual);
  }
  listRelations(conn: Connection, database: string | undefined, schema: string) {
    return listSnowflakeRelations(conn, this.names, database, schema);
  }
  getColumns(conn: Connection, rel: RelationRef) {
    return getSnowflakeColumns(conn, this.names, rel);
  }
  seedType(type: SeedColumnType, _stats: SeedColumnStats): string {
    return snowflakeSeedType(type);
  }
  loadSeed(conn: Connection, rel: RelationRef, seed: Parameters<Adapter['loadSeed']>[2]) {
    return loadSnowflakeSeed(conn, this.names, rel, seed);
  }
}
