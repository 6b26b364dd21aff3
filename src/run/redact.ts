/**
 * Keeping secrets out of logs and artifacts: the values of a target's secret fields (and of fields whose
 * names say they are secret) are replaced by `*****` wherever Kiln prints or writes text.
 */
import type { TargetConfig } from '../adapter.js';

const SECRET_NAME = /pass(word)?|secret|token|private_key|keyfile_json|credentials|api_key/i;

export class Redactor {
  private readonly secrets: string[];
  private readonly secretKeys: Set<string>;

  constructor(target: TargetConfig) {
    this.secretKeys = new Set([...target.secretFields, ...Object.keys(target.fields).filter((k) => SECRET_NAME.test(k))]);
    this.secrets = [...this.secretKeys]
      .map((k) => target.fields[k])
      .filter((v): v is string => typeof v === 'string' && v.length >= 3)
      .sort((a, b) => b.length - a.length);
  }

  /** Target fields without the secret ones (what the `target` template variable shows). */
  safeFields(fields: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(fields).filter(([k]) => !this.secretKeys.has(k)));
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('*****');
    return out;
  }
}
