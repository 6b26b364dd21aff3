/**
 * The parse cache (target/kiln_parse_cache.json): what each model's parse render produced, keyed by the
 * file's content hash and its config before config() calls. An entry also remembers which vars, env vars
 * and whether `target` the render read, with their values, so changing a var re-parses only the models
 * that read it. Changing any macro file, the project file or Kiln itself drops the whole cache. Data tests
 * are not kept (parse.ts); every node's relation, as the naming macros gave it, is (apart from entries).
 */
import { hash as cryptoHash } from 'node:crypto';
import { readJsonIfAny, writeJsonAtomic } from '../project/files.js';
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
  /** The flags the render read (their values are part of the entry's key). */
  flagsRead: string[];
  /** From set_sql_header() (config(sql_header=…) lives in the config). */
  sqlHeader?: string;
}

/** Hashes of the var and env var values a render read (values are hashed: env vars may be secrets). */
interface ReadValues {
  varValues: Record<string, string>;
  envValues: Record<string, string | null>;
}

interface StoredEntry extends ParseEntry, ReadValues {
  /** The values of `flagsRead` when rendered. */
  flagValues: string;
  checksum: string;
  configHash: string;
  targetHash: string | null;
}

/** The naming macros' answer for a node, and what they read. */
type StoredRelation = { key: string; value: ResolvedRelation; flagsRead: string[]; flagValues: string } & ReadValues;

interface CacheFile {
  version: number;
  globalKey: string;
  entries: Record<string, StoredEntry>;
  /** Apart from the entries: a node's relation is cached also when its render is not (a data test's). */
  relations: Record<string, StoredRelation>;
}

const UNSET = '\u0000unset';
const VERSION = 5;

/** The values of the named flags, as one comparable string. */
export function flagValues(names: readonly string[], flags: Record<string, unknown>): string {
  return JSON.stringify([...names].sort().map((n) => [n, flags[n] ?? null]));
}

/** `map`'s value for `key`, made (and kept) on first use. */
function memo<V>(map: Map<string, V>, key: string, make: () => V): V {
  if (map.has(key)) return map.get(key)!;
  const v = make();
  map.set(key, v);
  return v;
}

function hash(v: unknown): string {
  return cryptoHash('sha1', JSON.stringify(v) ?? 'undefined', 'hex');
}

/** What the naming macros see of a node (its id aside: entries are by id), with the target. */
function relationKey(node: SqlNode, target: TargetInfo): string {
  return hash([node.config, node.fqn, node.path, node.originalFilePath, node.version ?? null, node.tags, target]);
}

export class ParseCache {
  private dirty = false;
  hits = 0;
  misses = 0;

  private constructor(
    private readonly path: string,
    private readonly globalKey: string,
    private readonly entries: Record<string, StoredEntry>,
    private readonly relations: Record<string, StoredRelation>,
  ) {}

  /** Open the cache at `path`; entries made under a different `globalKey` are dropped. */
  static open(path: string, globalKey: string): ParseCache {
    const file = readJsonIfAny<CacheFile>(path);
    const valid = file?.version === VERSION && file.globalKey === globalKey;
    return new ParseCache(path, globalKey, valid ? file.entries : {}, valid ? file.relations : {});
  }

  /** Nothing cached (a first parse, or one after a change to everything). */
  get isEmpty(): boolean {
    for (const _ in this.entries) return false;
    for (const _ in this.relations) return false;
    return true;
  }

  /** The global key: everything whose change can alter any render. */
  static globalKey(parts: unknown[]): string {
    return hash(parts);
  }

  // Vars, env vars and the target do not change during an invocation, and each node's base config is
  // looked up and then stored: their hashes are taken once (30,000 nodes hashed them 0.3 s over).
  private readonly varHashes = new Map<string, string>();
  private readonly envHashes = new Map<string, string | null>();
  private readonly objectHashes = new WeakMap<object, string>();

  private hashOf(v: object): string {
    let h = this.objectHashes.get(v);
    if (h === undefined) this.objectHashes.set(v, (h = hash(v)));
    return h;
  }

  private varValue(project: Project, pkg: string, name: string): string {
    return memo(this.varHashes, `${pkg}\u0000${name}`, () => {
      try {
        return hash(project.vars.get(name, pkg));
      } catch {
        return UNSET;
      }
    });
  }

  private envValue(name: string): string | null {
    return memo(this.envHashes, name, () => {
      const v = process.env[name];
      return v === undefined ? null : hash(v);
    });
  }

  private readValues(project: Project, pkg: string, varsRead: readonly string[], envRead: readonly string[]): ReadValues {
    return {
      varValues: Object.fromEntries(varsRead.map((v) => [v, this.varValue(project, pkg, v)])),
      envValues: Object.fromEntries(envRead.map((v) => [v, this.envValue(v)])),
    };
  }

  private unchanged(project: Project, pkg: string, r: ReadValues): boolean {
    return Object.entries(r.varValues).every(([v, h]) => h === this.varValue(project, pkg, v)) &&
      Object.entries(r.envValues).every(([v, h]) => h === this.envValue(v));
  }

  lookup(node: SqlNode, baseConfig: NodeConfig, project: Project, target: TargetInfo, flags: Record<string, unknown>): ParseEntry | undefined {
    const e = this.entries[node.uniqueId];
    const ok =
      e &&
      e.checksum === node.checksum &&
      e.flagValues === flagValues(e.flagsRead ?? [], flags) &&
      e.configHash === this.hashOf(baseConfig) &&
      this.unchanged(project, node.packageName, e) &&
      (!e.targetRead || e.targetHash === this.hashOf(target));
    if (ok) this.hits++;
    else this.misses++;
    return ok ? e : undefined;
  }

  /** Keep `entry` (made by this parse's render; it becomes the stored record, not a copy of it). */
  store(node: SqlNode, baseConfig: NodeConfig, project: Project, target: TargetInfo, flags: Record<string, unknown>, entry: ParseEntry): void {
    const values = this.readValues(project, node.packageName, entry.varsRead, entry.envRead);
    const stored: StoredEntry = Object.assign(entry, {
      flagValues: flagValues(entry.flagsRead, flags),
      varValues: values.varValues,
      envValues: values.envValues,
      checksum: node.checksum,
      configHash: this.hashOf(baseConfig),
      targetHash: entry.targetRead ? this.hashOf(target) : null,
    });
    this.entries[node.uniqueId] = stored;
    this.dirty = true;
  }

  /**
   * Relation names depend on what the naming macros (a project's own generate_schema_name) are given of the
   * node — its final config, fqn, paths and version (macroRelation) —, on the target, and on whatever vars
   * and env vars they read.
   */
  relationFor(node: SqlNode, target: TargetInfo, project: Project, flags: Record<string, unknown>): ResolvedRelation | undefined {
    const r = this.relations[node.uniqueId];
    const ok = r && r.key === relationKey(node, target) && this.unchanged(project, node.packageName, r) && r.flagValues === flagValues(r.flagsRead ?? [], flags);
    return ok ? r.value : undefined;
  }

  storeRelation(
    node: SqlNode, target: TargetInfo, project: Project, flags: Record<string, unknown>, value: ResolvedRelation,
    reads: { varsRead: string[]; envRead: string[]; flagsRead: string[] },
  ): void {
    this.relations[node.uniqueId] = {
      key: relationKey(node, target), value, flagsRead: reads.flagsRead, flagValues: flagValues(reads.flagsRead, flags),
      ...this.readValues(project, node.packageName, reads.varsRead, reads.envRead),
    };
    this.dirty = true;
  }

  /** The env vars and flags the naming macros read for a node's cached relation. */
  relationReads(id: string): { envRead: string[]; flagsRead: string[] } | undefined {
    const r = this.relations[id];
    return r && { envRead: Object.keys(r.envValues), flagsRead: r.flagsRead ?? [] };
  }

  /** Drop entries of nodes that no longer exist, and write the file if anything changed. */
  save(liveIds: Iterable<string>): void {
    const live = new Set(liveIds);
    for (const kept of [this.entries, this.relations]) {
      for (const id of Object.keys(kept)) {
        if (!live.has(id)) {
          delete kept[id];
          this.dirty = true;
        }
      }
    }
    if (!this.dirty) return;
    const file: CacheFile = { version: VERSION, globalKey: this.globalKey, entries: this.entries, relations: this.relations };
    writeJsonAtomic(this.path, file);
    this.dirty = false;
  }
}
