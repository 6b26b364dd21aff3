/** Collects warnings while a project loads; errors are thrown as KilnError instead. */
import { KilnError, resolveLocation, type SourceLocation, type Warning } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { isPlainObject, type YamlFile, type YamlPath } from './yamlFile.js';

export class Diagnostics {
  readonly warnings: Warning[] = [];

  warn(message: string, location?: SourceLocation, hint?: string): void {
    this.warnings.push({ message, location: resolveLocation(location), hint });
  }

  /** Warn about keys of `obj` not in `known`, with a suggestion when one is close. */
  unknownKeys(yaml: YamlFile, path: YamlPath, obj: Record<string, unknown>, known: Iterable<string>, what: string): void {
    const knownSet = new Set(known);
    for (const key of Object.keys(obj)) {
      if (knownSet.has(key)) continue;
      this.warn(`unknown key '${key}' in ${what}; it is ignored`, yaml.locate([...path, key], true), didYouMean(key, knownSet));
    }
  }
}

export type ValueType = 'string' | 'number' | 'boolean' | 'list' | 'mapping';

function typeOf(v: unknown): ValueType | 'null' | 'other' {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (isPlainObject(v)) return 'mapping';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return typeof v as ValueType;
  return 'other';
}

/** Throw a config error unless `value` (when present) is one of `types`. */
export function expectType(yaml: YamlFile, path: YamlPath, value: unknown, types: ValueType[], what?: string): void {
  const t = typeOf(value);
  if (t === 'null') return;
  if ((types as string[]).includes(t)) return;
  const name = what ?? String(path[path.length - 1]);
  throw new KilnError('config', `'${name}' must be ${types.map(article).join(' or ')}, not ${article(t)}`, {
    location: yaml.locate(path),
    hint: `Change the value of '${name}' in ${yaml.file}.`,
  });
}

function article(t: string): string {
  if (t === 'list' || t === 'mapping' || t === 'string' || t === 'number' || t === 'boolean') return (t === 'list' ? 'a ' : 'a ') + t;
  return t;
}

/** A value that may be one string or a list of strings (paths, tags, hooks) as a list. */
export function stringList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}
