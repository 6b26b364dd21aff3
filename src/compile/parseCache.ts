/**
 * The parse cache (target/kiln_parse_cache.json): what each model's parse render produced, keyed by the
 * file's content hash and its config before config() calls. An entry also remembers which vars, env vars
 * and whether `target` the render read, with their values, so changing a var re-parses only the models
 * that read it. Changing any macro file, the project file or Kiln itself drops the whole cache.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Project } from '../project/loadProject.js';
import type { NodeConfig } from '../project/nodeConfig.js';
import type { Placeholder, RefCall, ResolvedRelation, SqlNode } from '../project/nodes.js';
import type { TargetInfo } from './parse.js';

export interface ParseEntry {
  sql: string;
  refs: RefCall[];
  sources: [string, string][];
  configCalls: NodeConfig;
  placeholders: Placeholder[];
  needsExecuteRender: boolean;
  macros: string[];
  varsRead: string[];
  envRead: string[];
  targetRead: boolean;
}

interface StoredEntry extends ParseEntry {
  checksum: string;
  configHash: string;
  varValues: Record<string, string>;
  envValues: Record<string, string | null>;
  targetHash: string | null;
  relation?: { key: string; value: ResolvedRelation };
}

interface CacheFile {
  version: 1;
  globalKey: string;
  entries: Record<string, StoredEntry>;
}

const UNSET = '\u0000unset';

function hash(v: unknown): string {
  return createHash('sha1').update(JSON.stringify(v) ?? 'undefined').digest('hex');
}

export class ParseCache {
  private readonly entries: Record<string, StoredEntry>;
  private dirty = false;
  hits = 0;
  misses = 0;

  private constructor(
    private readonly path: string,
    private readonly globalKey: string,
    entries: Record<string, StoredEntry>,
  ) {
    this.entries = entries;
  }

  /** Open the cache at `path`; entries made under a different `globalKey` are dropped. */
  static open(path: string, globalKey: string): ParseCache {
    try {
      const file = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
      if (file.version === 1 && file.globalKey === globalKey) return new ParseCache(path, globalKey, file.entries);
    } catch {
      // missing or unreadable: start empty
    }
    return new ParseCache(path, globalKey, {});
  }

  /** The global key: everything whose change can alter any render. */
  static globalKey(parts: unknown[]): string {
    return hash(parts);
  }

  private varValue(project: Project, pkg: string, name: string): string {
    try {
      return hash(project.vars.get(name, pkg));
    } catch {
      return UNSET;
    }
  }

  lookup(node: SqlNode, baseConfig: NodeConfig, project: Project, target: TargetInfo): ParseEntry | undefined {
    const e = this.entries[node.uniqueId];
    const ok =
      e &&
      e.checksum === node.checksum &&
      e.configHash === hash(baseConfig) &&
      e.varsRead.every((v) => e.varValues[v] === this.varValue(project, node.packageName, v)) &&
      e.envRead.every((v) => e.envValues[v] === (process.env[v] ?? null)) &&
      (!e.targetRead || e.targetHash === hash(target));
    if (ok) this.hits++;
    else this.misses++;
    return ok ? e : undefined;
  }

  store(node: SqlNode, baseConfig: NodeConfig, project: Project, target: TargetInfo, entry: ParseEntry): void {
    this.entries[node.uniqueId] = {
      ...entry,
      checksum: node.checksum,
      configHash: hash(baseConfig),
      varValues: Object.fromEntries(entry.varsRead.map((v) => [v, this.varValue(project, node.packageName, v)])),
      envValues: Object.fromEntries(entry.envRead.map((v) => [v, process.env[v] ?? null])),
      targetHash: entry.targetRead ? hash(target) : null,
    };
    this.dirty = true;
  }

  /** Relation names depend on the final config and the target (through generate_schema_name). */
  relationFor(node: SqlNode, target: TargetInfo): ResolvedRelation | undefined {
    const e = this.entries[node.uniqueId];
    return e?.relation && e.relation.key === hash([node.config, target]) ? e.relation.value : undefined;
  }

  storeRelation(node: SqlNode, target: TargetInfo, value: ResolvedRelation): void {
    const e = this.entries[node.uniqueId];
    if (!e) return;
    e.relation = { key: hash([node.config, target]), value };
    this.dirty = true;
  }

  /** Drop entries of nodes that no longer exist, and write the file if anything changed. */
  save(liveIds: Iterable<string>): void {
    const live = new Set(liveIds);
    for (const id of Object.keys(this.entries)) {
      if (!live.has(id)) {
        delete this.entries[id];
        this.dirty = true;
      }
    }
    if (!this.dirty) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const file: CacheFile = { version: 1, globalKey: this.globalKey, entries: this.entries };
    writeFileSync(tmp, JSON.stringify(file));
    renameSync(tmp, this.path);
    this.dirty = false;
  }
}
