/**
 * BigQuery profile fields (dbt-bigquery's names) and the Google auth client they describe.
 *
 * Methods: `service-account` (keyfile: a JSON key file), `service-account-json` (keyfile_json: the key's
 * fields inline), `oauth` (application default credentials: `gcloud auth application-default login`, or
 * the metadata server on Google Cloud), `oauth-secrets` (token, or refresh_token + client_id +
 * client_secret [+ token_uri]). `impersonate_service_account` wraps any of them. Service-account keys sign
 * their own JWTs (with the scopes as a claim), with no token exchange.
 *
 * @example
 * const f = validateBigQueryFields(fields, location);
 * const auth = await makeAuthClient(f, projectDir);
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SourceLocation } from '../../src/errors.js';
import { TargetFields } from '../postgres/profile.js';

export const METHODS = ['service-account', 'service-account-json', 'oauth', 'oauth-secrets'] as const;
export type AuthMethod = (typeof METHODS)[number];

export const KNOWN_FIELDS = new Set([
  'type', 'method', 'project', 'database', 'dataset', 'schema', 'location', 'keyfile', 'keyfile_json', 'token', 'refresh_token',
  'client_id', 'client_secret', 'token_uri', 'scopes', 'priority', 'job_timeout_ms', 'job_retries', 'maximum_bytes_billed',
  'impersonate_service_account', 'execution_project', 'api_endpoint', 'threads',
]);

export const SECRET_FIELDS = ['keyfile_json', 'token', 'refresh_token', 'client_secret'];

/** The validated fields, as the `target` variable and the adapter see them. */
export interface BigQueryFields {
  method: AuthMethod;
  project: string;
  dataset: string;
  location?: string;
  keyfile?: string;
  keyfile_json?: Record<string, unknown>;
  token?: string;
  refresh_token?: string;
  client_id?: string;
  client_secret?: string;
  token_uri?: string;
  scopes?: string[];
  priority: 'interactive' | 'batch';
  job_timeout_ms?: number;
  job_retries: number;
  maximum_bytes_billed?: number;
  impersonate_service_account?: string;
  execution_project: string;
  api_endpoint?: string;
}

export function validateBigQueryFields(fields: Record<string, unknown>, location: SourceLocation | undefined): BigQueryFields {
  const f = new TargetFields('bigquery', fields, location, KNOWN_FIELDS);
  const method = f.oneOf('method', METHODS, 'oauth');
  const project = f.name('project', { required: true, aliases: ['database'] })!;
  const dataset = f.name('dataset', { required: true, aliases: ['schema'] })!;
  const out: BigQueryFields = {
    method,
    project,
    dataset,
    priority: f.oneOf('priority', ['interactive', 'batch'] as const, 'interactive'),
    job_retries: f.int('job_retries', 1, 0, 20),
    execution_project: f.name('execution_project') ?? project,
  };
  const optional = {
    location: f.string('location'), keyfile: f.string('keyfile'), token: f.string('token'), refresh_token: f.string('refresh_token'),
    client_id: f.string('client_id'), client_secret: f.string('client_secret'), token_uri: f.string('token_uri'),
    impersonate_service_account: f.string('impersonate_service_account'), api_endpoint: f.string('api_endpoint'),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  if (fields.job_timeout_ms !== undefined && fields.job_timeout_ms !== null) out.job_timeout_ms = f.int('job_timeout_ms', 0, 1, 2 ** 31);
  if (fields.maximum_bytes_billed !== undefined && fields.maximum_bytes_billed !== null) out.maximum_bytes_billed = f.int('maximum_bytes_billed', 0, 1, Number.MAX_SAFE_INTEGER);
  if (fields.scopes !== undefined && fields.scopes !== null) {
    if (!Array.isArray(fields.scopes) || !fields.scopes.every((s) => typeof s === 'string')) f.fail("field 'scopes' must be a list of scope URLs");
    out.scopes = fields.scopes as string[];
  }
  if (out.api_endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(out.api_endpoint)) {
    f.fail(`field 'api_endpoint' must be a URL with its scheme (https://… or http://…), not '${out.api_endpoint}'`);
  }
  if (out.location !== undefined && !/^[A-Za-z0-9-]+$/.test(out.location)) f.fail(`field 'location' must be a BigQuery location such as US, EU or europe-west1, not '${out.location}'`);

  const keyfileJson = fields.keyfile_json;
  switch (method) {
    case 'service-account':
      if (!out.keyfile) f.fail("method service-account needs 'keyfile' (the path of a service account JSON key)", 'Or use method: service-account-json with keyfile_json.');
      break;
    case 'service-account-json': {
      let key = keyfileJson;
      if (typeof key === 'string') {
        try {
          key = JSON.parse(key);
        } catch {
          f.fail("field 'keyfile_json' is a string that is not JSON");
        }
      }
      if (!key || typeof key !== 'object' || Array.isArray(key)) f.fail("method service-account-json needs 'keyfile_json' (the fields of a service account JSON key)");
      checkKey(f, key as Record<string, unknown>, 'keyfile_json');
      out.keyfile_json = key as Record<string, unknown>;
      break;
    }
    case 'oauth-secrets':
      if (!out.token && !(out.refresh_token && out.client_id && out.client_secret)) {
        f.fail("method oauth-secrets needs 'token', or 'refresh_token' with 'client_id' and 'client_secret'");
      }
      break;
    case 'oauth':
      break;
  }
  for (const k of ['keyfile', 'keyfile_json'] as const) {
    if (fields[k] !== undefined && !method.startsWith('service-account')) f.fail(`field '${k}' belongs to method service-account(-json), not ${method}`);
  }
  return out;
}

function checkKey(f: TargetFields, key: Record<string, unknown>, where: string): void {
  for (const k of ['client_email', 'private_key']) {
    if (typeof key[k] !== 'string' || !key[k]) f.fail(`${where} has no '${k}'; is it a service account key?`);
  }
}

const DEFAULT_SCOPES = ['https://www.googleapis.com/auth/bigquery', 'https://www.googleapis.com/auth/cloud-platform'];

/** The auth client for the fields' method (google-auth-library loads here, not when Kiln starts). */
export async function makeAuthClient(f: BigQueryFields, projectDir: string): Promise<unknown> {
  const gal = await import('google-auth-library');
  let client: InstanceType<typeof gal.AuthClient> | InstanceType<typeof gal.GoogleAuth>;
  switch (f.method) {
    case 'service-account':
    case 'service-account-json': {
      let key = f.keyfile_json;
      if (!key) {
        const path = isAbsolute(f.keyfile!) ? f.keyfile! : resolve(projectDir, f.keyfile!);
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch (e) {
          throw new Error(`cannot read the keyfile '${f.keyfile}': ${(e as Error).message}`);
        }
        try {
          key = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new Error(`the keyfile '${f.keyfile}' is not JSON`);
        }
        if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') throw new Error(`the keyfile '${f.keyfile}' is not a service account key (no client_email or private_key)`);
      }
      // A self-signed JWT carrying the scopes (no token exchange), as Google's client libraries sign for
      // their APIs. The REST layer asks for headers without a URL, so the JWT needs scopes to sign at all.
      const jwt = new gal.JWT({
        email: key.client_email as string,
        key: key.private_key as string,
        keyId: key.private_key_id as string | undefined,
        scopes: f.scopes ?? DEFAULT_SCOPES,
      });
      jwt.useJWTAccessWithScope = true;
      client = jwt;
      break;
    }
    case 'oauth-secrets': {
      const oauth = new gal.OAuth2Client({
        clientId: f.client_id,
        clientSecret: f.client_secret,
        ...(f.token_uri ? { endpoints: { oauth2TokenUrl: f.token_uri } } : {}),
      });
      oauth.setCredentials({ access_token: f.token, refresh_token: f.refresh_token });
      client = oauth;
      break;
    }
    case 'oauth':
      client = new gal.GoogleAuth({ scopes: f.scopes ?? DEFAULT_SCOPES });
      break;
  }
  if (f.impersonate_service_account) {
    const source = client instanceof gal.GoogleAuth ? await client.getClient() : client;
    client = new gal.Impersonated({
      sourceClient: source as InstanceType<typeof gal.AuthClient>,
      targetPrincipal: f.impersonate_service_account,
      lifetime: 3600,
      delegates: [],
      targetScopes: f.scopes ?? DEFAULT_SCOPES,
    });
  }
  return client;
}
