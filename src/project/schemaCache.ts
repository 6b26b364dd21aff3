/**
 * A cache of parsed schema YAML (target/kiln_yaml_cache.json), keyed by file path and content hash.
 * Parsing YAML with source positions is the costliest part of loading a large project; a file without
 * Jinja parses to the same result every time, so its result (and its warnings) is reused. Files with
 * `{{`/`{%` depend on vars and env vars and are always parsed.
 */
import type { PendingPosition, Warning } from '../errors.js';
import { readJsonIfAny, writeJsonAtomic } from './files.js';
import { positionSource, SOURCE_IN_JSON } from './yamlFile.js';
import type { SchemaFileContents } from './schemaYaml.js';

interface Entry {
  checksum: string;
  contents: SchemaFileContents;
  warnings: Warning[];
}

const VERSION = 4;

/**
 * Give the pending positions in cached contents their file again (a marker in the cache: SOURCE_IN_JSON),
 * as it is now: a project copied elsewhere (a CI cache of target/) finds lines in its own files. Only a
 * position's marker is replaced: user data (`meta: {pending: …}`) is left as written.
 */
function attachSource(value: unknown, source: PendingPosition['source']): void {
  if (Array.isArray(value)) {
    for (const v of value) attachSource(v, source);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'pending' && isMarkedPosition(v)) v.source = source;
      else attachSource(v, source);
    }
  }
}

function isMarkedPosition(v: unknown): v is PendingPosition {
  const p = v as Partial<Record<keyof PendingPosition, unknown>> | null;
  return p !== null && typeof p === 'object' && p.source === SOURCE_IN_JSON && Array.isArray(p.path) && typeof p.key === 'boolean';
}

export class SchemaCache {
  private dirty = false;
  private readonly used = new Set<string>();

  private constructor(
    private readonly path: string,
    private readonly entries: Record<string, Entry>,
  ) {}

  static open(path: string): SchemaCache {
    const data = readJsonIfAny<{ version: number; entries: Record<string, Entry> }>(path);
    return new SchemaCache(path, data?.version === VERSION ? data.entries : {});
  }

  static cacheable(text: string): boolean {
    return !text.includes('{{') && !text.includes('{%');
  }

  /** The entry of `file` (as messages name it; `absPath` is where it is now) when it has this checksum. */
  get(file: string, absPath: string, checksum: string): Entry | undefined {
    const e = this.entries[file];
    if (!e || e.checksum !== checksum) return undefined;
    attachSource(e.contents, positionSource(absPath));
    this.used.add(file);
    return e;
  }

  set(file: string, entry: Entry): void {
    this.entries[file] = entry;
    this.used.add(file);
    this.dirty = true;
  }

  save(): void {
    for (const file of Object.keys(this.entries)) {
      if (!this.used.has(file)) {
        delete this.entries[file];
        this.dirty = true;
      }
    }
    if (!this.dirty) return;
    writeJsonAtomic(this.path, { version: VERSION, entries: this.entries });
    this.dirty = false;
  }
}
