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
    const collect = (value: unknown, key: string) => {
      if (typeof value === 'string' && (this.secretKeys.has(key) || SECRET_NAME.test(key))) found.push(value);
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, k);
    };
    for (const [k, v] of Object.entries(target.fields)) collect(v, k);
    // dbt's convention: env vars named DBT_ENV_SECRET_* hold secrets wherever they are used.
    for (const [k, v] of Object.entries(env)) if ((k.startsWith('DBT_ENV_SECRET_') || k.startsWith('KILN_ENV_SECRET_')) && v) found.push(v);
    this.secrets = found.filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
  }

  /** Target fields without the secret ones, at any depth (what the `target` template variable shows). */
  safeFields(fields: Record<string, unknown>): Record<string, unknown> {
    const strip = (obj: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(obj)
        .filter(([k, v]) => !(this.secretKeys.has(k) || (SECRET_NAME.test(k) && typeof v !== 'object')))
        .map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v) ? strip(v as Record<string, unknown>) : v]));
    return strip(fields);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('*****');
    return out;
  }
}
