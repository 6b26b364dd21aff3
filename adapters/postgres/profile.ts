/**
 * Profile fields of Postgres-protocol targets (postgres, redshift): checking them with errors at the
 * target's place in profiles.yml, defaults, and the connection settings they turn into.
 *
 * @example
 * const f = new TargetFields('postgres', fields, location, KNOWN);
 * const port = f.port('port', 5432);
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SourceLocation } from '../../src/errors.js';
import { KilnError } from '../../src/errors.js';
import type { PgSettings } from './connection.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** Typed reads of one target's fields; every error names the field and points at the target. */
export class TargetFields {
  constructor(
    readonly type: string,
    readonly fields: Record<string, unknown>,
    readonly location: SourceLocation | undefined,
    known: ReadonlySet<string>,
  ) {
    for (const key of Object.keys(fields)) {
      if (!known.has(key)) {
        throw new KilnError('config', `unknown field '${key}' in a ${type} target`, { location, hint: `${type} targets accept: ${[...known].join(', ')}.` });
      }
    }
  }

  fail(message: string, hint?: string): never {
    throw new KilnError('config', `${this.type} target: ${message}`, { location: this.location, hint });
  }

  string(key: string, opts: { required?: boolean; aliases?: string[] } = {}): string | undefined {
    for (const k of [key, ...(opts.aliases ?? [])]) {
      const v = this.fields[k];
      if (v === undefined || v === null) continue;
      if (typeof v === 'number') return String(v);
      if (typeof v !== 'string') this.fail(`field '${k}' must be a string`);
      return v;
    }
    if (opts.required) this.fail(`field '${key}' is required`, `Add ${key}: to this target in profiles.yml.`);
    return undefined;
  }

  /** A whole number within bounds; strings of digits count (env_var() renders strings). */
  int(key: string, fallback: number, min: number, max: number): number {
    const v = this.fields[key];
    if (v === undefined || v === null || v === '') return fallback;
    const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) this.fail(`field '${key}' must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.fields[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
    this.fail(`field '${key}' must be true or false, not ${JSON.stringify(v)}`);
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T {
    const v = this.string(key);
    if (v === undefined) return fallback;
    if (!values.includes(v as T)) this.fail(`field '${key}' must be one of ${values.join(', ')}, not '${v}'`);
    return v as T;
  }

  /** An identifier-like name (schema, database): non-empty. */
  name(key: string, opts: { required?: boolean; aliases?: string[] } = {}): string | undefined {
    const v = this.string(key, opts);
    if (v !== undefined && v.trim() === '') this.fail(`field '${key}' must not be empty`);
    return v;
  }
}

/** `pg`'s TLS options for an sslmode (libpq's meanings); certificate paths resolve against the project. */
export function sslOptions(mode: SslMode, files: { rootCert?: string; cert?: string; key?: string }, projectDir: string, f: TargetFields): PgSettings['ssl'] {
  if (mode === 'disable' || mode === 'allow') return false;
  const read = (field: string, path: string | undefined) => {
    if (!path) return undefined;
    const abs = isAbsolute(path) ? path : resolve(projectDir, path);
    try {
      return readFileSync(abs, 'utf8');
    } catch (e) {
      return f.fail(`cannot read ${field} '${path}': ${(e as Error).message}`);
    }
  };
  const ca = read('sslrootcert', files.rootCert);
  const cert = read('sslcert', files.cert);
  const key = read('sslkey', files.key);
  if (mode === 'prefer' || mode === 'require') return { rejectUnauthorized: false, cert, key, ...(ca && mode === 'require' ? { ca } : {}) };
  // verify-ca checks the chain but not the host name; without sslrootcert, Node's CA store is used.
  return { rejectUnauthorized: true, ca, cert, key, ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
}
