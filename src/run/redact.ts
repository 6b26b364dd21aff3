/**
 * Keeping secrets out of logs and artifacts: the values of a target's secret fields (and of fields whose
 * names say they are secret) are replaced by `*****` wherever Kiln prints or writes text.
 */
import type { TargetConfig } from '../adapter.js';

const SECRET_NAME = /pass(word)?|secret|token|private_key|keyfile_json|credentials|api_key/i;

export class Redactor {
  private readonly secrets: string[];
  private readonly secretKeys: Set<string>;

  constructor(target: TargetConfig, env: NodeJS.ProcessEnv = process.env) {
    this.secretKeys = new Set(target.secretFields);
    const found: string[] = [];
    // Secrets can sit at any depth (DuckDB `settings: {s3_secret_access_key: …}`).
    const collect = (value: unknown, key: string, underSecret: boolean) => {
      const secret = underSecret || this.secretKeys.has(key) || SECRET_NAME.test(key);
      if (typeof value === 'string' && secret) found.push(value);
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, k, secret);
    };
    for (const [k, v] of Object.entries(target.fields)) collect(v, k, false);
    // dbt's convention: env vars named DBT_ENV_SECRET_* hold secrets wherever they are used.
    for (const [k, v] of Object.entries(env)) if ((k.startsWith('DBT_ENV_SECRET_') || k.startsWith('KILN_ENV_SECRET_')) && v) found.push(v);
    this.secrets = found.filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
  }

  /** Target fields without the secret ones, at any depth (what the `target` template variable shows). */
  safeFields(fields: Record<string, unknown>): Record<string, unknown> {
    // A secret-named key goes whatever its value (a keyfile_json object, a list of secrets); the rest is walked.
    const strip = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(strip);
      if (v && typeof v === 'object') {
        return Object.fromEntries(Object.entries(v).filter(([k]) => !(this.secretKeys.has(k) || SECRET_NAME.test(k))).map(([k, x]) => [k, strip(x)]));
      }
      return v;
    };
    return strip(fields) as Record<string, unknown>;
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('*****');
    return out;
  }
}
