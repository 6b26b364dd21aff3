/**
 * The parse snapshot (target/kiln_parse_snapshot.bin): every node a parse produced, after tests were
 * declared and the graph resolved, kept under a key of everything the parse read — the project's files,
 * the project and package files' settings, vars, the target, Kiln's build — plus the values of the
 * environment variables it read. When nothing of that changed, a run restores the nodes instead of parsing
 * (dbt keeps its whole manifest in partial_parse.msgpack for the same reason). When only model or analysis
 * files changed (a second key leaves their contents out), the snapshot is restored and those files alone
 * parsed again (partialParse.ts); the nodes that changed go to a small delta file beside the snapshot.
 * Any other change falls back to a whole parse through the per-model parse cache.
 *
 * Layout of both files: a 4-byte length, a small JSON header (version, keys, env value hashes), then a body
 * in V8's serialization format, which keeps `undefined` fields and shared objects exactly, so a restored
 * node is the node the parse made. The snapshot's cold records follow its body, read only when needed.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { Warning } from '../errors.js';
import { findFiles, writeFileAtomic } from '../project/files.js';
import { checksum, type Project } from '../project/loadProject.js';
import type { GraphNode } from '../project/nodes.js';
import { flagValues } from './parseCache.js';

const VERSION = 5;

interface Header {
  version: number;
  key: string;
  baseKey: string;
  /** Model and analysis files with their content hashes (see SnapshotKeys). */
  sqlFiles: Record<string, string>;
  /** Each env var the parse read, with a hash of its value then (null: unset). Values may be secrets. */
  env: [string, string | null][];
  /** The `flags` the parse read, and their values then (flagValues). */
  flagNames: string[];
  flags: string;
  /** Bytes of the body (hot fields); the cold records follow it to the end of the file. */
  bodyBytes: number;
}

/**
 * The nodes, split: the fields a warm compile reads ("hot": identity, config, relation, parsed SQL, edges)
 * and the rest ("cold": raw code, columns, descriptions, test arguments …), which is deserialized only
 * when something first reads one of them. Restoring the hot half of a 30,000-node project takes a third
 * of the time of restoring everything, and produces a third of the garbage.
 */
interface Body {
  hot: Record<string, unknown>[];
  coldFields: string[];
  /**
   * Raw code that many nodes share (a generic test's template): written once here, and as its index in
   * the cold records (a serialized string is copied every time it occurs; 20,000 tests share a few).
   */
  sharedCode: string[];
  disabled: [string, GraphNode][];
  /** Every warning the load and the parse reported. */
  warnings: Warning[];
  /** The graph's topological order. */
  order: string[];
}

export interface Restored {
  nodes: Map<string, GraphNode>;
  disabled: Map<string, GraphNode>;
  warnings: Warning[];
  order: string[];
}

/**
 * What compiling and ordering read of a node (keep in step with NodeCompiler). Selecting by tag, fqn or test
 * name reads cold fields: fine, a run that selects loads them once.
 */
const HOT_FIELDS = new Set([
  'uniqueId', 'resourceType', 'name', 'packageName', 'path', 'originalFilePath', 'config', 'relation', 'dependsOn',
  'parsedSql', 'placeholders', 'needsExecuteRender', 'sqlHeader', 'version', 'latestVersion', 'sourceName', 'identifier',
]);

/** Split nodes into hot records and cold ones; equal configs become one object (30,000 nodes have ~100). */
function split(nodes: Iterable<GraphNode>): Pick<Body, 'hot' | 'coldFields' | 'sharedCode'> & { cold: Uint8Array } {
  const configs = new Map<string, unknown>();
  const sharedCode: string[] = [];
  const codeIndex = new Map<string, number>();
  // Nodes often share one config object already: it is written out as JSON once.
  const sameObject = new Map<unknown, unknown>();
  const hot: Record<string, unknown>[] = [];
  const cold: Record<string, unknown>[] = [];
  const coldFields = new Set<string>();
  for (const node of nodes) {
    const h: Record<string, unknown> = {};
    const c: Record<string, unknown> = {};
    for (const [k, v] of fieldsOf(node)) {
      if (!HOT_FIELDS.has(k)) {
        if (k === 'rawCode' && node.resourceType === 'test' && node.testTemplateArgs && typeof v === 'string') {
          let i = codeIndex.get(v);
          if (i === undefined) codeIndex.set(v, (i = sharedCode.push(v) - 1));
          c[k] = i;
        } else {
          c[k] = v;
        }
        coldFields.add(k);
      } else if (k === 'config') {
        let shared = sameObject.get(v);
        if (shared === undefined) {
          const key = JSON.stringify(v);
          if (!configs.has(key)) configs.set(key, v);
          sameObject.set(v, (shared = configs.get(key)));
        }
        h[k] = shared;
      } else {
        h[k] = v;
      }
    }
    hot.push(h);
    cold.push(c);
  }
  return { hot, cold: serialize(cold), coldFields: [...coldFields], sharedCode };
}

/** A restored node's place in the cold records (a symbol: never enumerated, never serialized). */
const SNAPSHOT_INDEX = Symbol('kiln.snapshotIndex');
type Indexed = { [SNAPSHOT_INDEX]: number };

/**
 * Give each hot record its cold fields: getters on a shared prototype, which read and deserialize every
 * cold record on first use. Assigning a cold field makes it the node's own.
 */
function joinCold(hot: Record<string, unknown>[], coldBytes: () => Uint8Array, coldFields: readonly string[], sharedCode: readonly string[]): GraphNode[] {
  let cold: Record<string, unknown>[] | undefined;
  const recordOf = (node: object) => (cold ??= deserialize(coldBytes()) as Record<string, unknown>[])[(node as Indexed)[SNAPSHOT_INDEX]];
  const descriptors: PropertyDescriptorMap = {};
  for (const field of coldFields) {
    descriptors[field] = {
      get(this: object) {
        const v = recordOf(this)[field];
        return field === 'rawCode' && typeof v === 'number' ? sharedCode[v] : v;
      },
      set(this: object, value: unknown) {
        Object.defineProperty(this, field, { value, writable: true, enumerable: true, configurable: true });
      },
      configurable: true,
    };
  }
  const prototype = Object.create(Object.prototype, descriptors) as object;
  hot.forEach((h, i) => {
    (h as Indexed)[SNAPSHOT_INDEX] = i;
    Object.setPrototypeOf(h, prototype);
  });
  return hot as unknown as GraphNode[];
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

function envHash(name: string): string | null {
  const v = process.env[name];
  return v === undefined ? null : sha1(v);
}

/**
 * Kiln's own build: its version does not change while it is developed, its compiled files do. The stat of
 * this module stands for the build (every build rewrites it).
 */
function buildId(): string {
  const s = statSync(fileURLToPath(import.meta.url));
  return `${s.size}:${s.mtimeMs}`;
}

/**
 * What a snapshot is keyed by. `key` covers every input; `baseKey` all but the contents of model and
 * analysis files (their paths included), whose hashes `sqlFiles` lists: a snapshot whose baseKey matches
 * can be brought up to date by parsing again only the model files that changed.
 */
export interface SnapshotKeys {
  key: string;
  baseKey: string;
  sqlFiles: Record<string, string>;
}

/**
 * The keys: `parts` (version, target, adapter, macro files …) and every input file of the project. Unit
 * test fixtures under test-paths are read at parse time, so they count too.
 */
export function snapshotKeys(project: Project, parts: unknown[]): SnapshotKeys {
  const h = createHash('sha1');
  // The project files as written and as rendered (a name or path may come from an env var).
  const settings = [project.name, project.file.yaml.data, [...project.packageFiles.values()].map((f) => [f.name, f.yaml.data])];
  h.update(JSON.stringify([buildId(), project.dir, project.cliVars, settings, parts]));
  for (const list of [project.snapshots, project.singularTests, project.seeds, project.schemaFiles]) {
    for (const f of list) h.update(`\n${f.path}\0${f.checksum}`);
  }
  for (const f of findFiles(project.dir, project.file.testPaths, ['.csv', '.sql'])) {
    h.update(`\n${f.path}\0${checksum(readFileSync(f.absPath, 'utf8'))}`);
  }
  const sqlFiles: Record<string, string> = {};
  for (const f of [...project.models, ...project.analyses]) {
    h.update(`\n${f.path}`);
    sqlFiles[f.path] = f.checksum;
  }
  const baseKey = h.digest('hex');
  return { key: contentKey(baseKey, sqlFiles), baseKey, sqlFiles };
}

function contentKey(baseKey: string, sqlFiles: Record<string, string>): string {
  const h = createHash('sha1').update(baseKey);
  for (const [path, sum] of Object.entries(sqlFiles)) h.update(`\n${path}\0${sum}`);
  return h.digest('hex');
}

/** `use(fd)` on the file at `path`, opened for reading and closed after; undefined when it cannot be opened. */
function withFile<T>(path: string, use: (fd: number) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** A file of the snapshot: [4-byte header length][JSON header][V8 body]. Undefined when it is not one. */
function readHeader<H>(fd: number): { header: H; bodyStart: number } | undefined {
  const len = Buffer.alloc(4);
  if (readSync(fd, len, 0, 4, 0) !== 4) return undefined;
  const headerBytes = Buffer.alloc(len.readUInt32LE(0));
  if (readSync(fd, headerBytes, 0, headerBytes.length, 4) !== headerBytes.length) return undefined;
  try {
    return { header: JSON.parse(headerBytes.toString('utf8')) as H, bodyStart: 4 + headerBytes.length };
  } catch {
    return undefined;
  }
}

/** `length` bytes from `start` (to the end of the file when no length is given), or undefined if cut short. */
function readBytesAt(fd: number, start: number, length = fstatSync(fd).size - start): Buffer | undefined {
  const bytes = Buffer.allocUnsafe(length);
  return readSync(fd, bytes, 0, length, start) === length ? bytes : undefined;
}

/** Header, body and any raw chunks after it (the snapshot's cold records), atomically. */
function writeWithHeader(path: string, header: unknown, body: Uint8Array, ...after: Uint8Array[]): void {
  const headerBytes = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(headerBytes.length, 0);
  writeFileAtomic(path, [len, headerBytes, body, ...after]);
}

const envOk = (env: [string, string | null][]) => env.every(([name, h]) => envHash(name) === h);
const envOf = (names: Iterable<string>): [string, string | null][] => [...new Set(names)].sort().map((name) => [name, envHash(name)]);

/**
 * Nodes changed since the base snapshot, kept beside it (kiln_parse_snapshot.delta.bin) so that a partial
 * parse writes kilobytes, not the whole snapshot.
 */
interface DeltaHeader {
  version: number;
  /** The key of the base snapshot this delta applies to. */
  base: string;
  key: string;
  env: [string, string | null][];
  flagNames: string[];
  flags: string;
  sqlFiles: Record<string, string>;
}

interface DeltaBody {
  nodes: GraphNode[];
  order: string[];
}

/** Past this many nodes in the delta, the next partial parse writes a whole snapshot again. */
const MAX_DELTA_NODES = 2000;

export type SnapshotFound =
  | { kind: 'current'; restored: Restored; env: string[]; flagNames: string[] }
  /** Up to date but for `changedFiles` (model and analysis paths), which must be parsed again. */
  | { kind: 'partial'; restored: Restored; changedFiles: string[]; deltaIds: string[]; env: string[]; flagNames: string[] };
// `env`, `flagNames`: the env vars and flags the snapshot's parse read (their values are as they were).

const deltaPathOf = (path: string) => path.replace(/\.bin$/, '.delta.bin');

/**
 * The snapshot at `path` (and its delta): `current` when it was made from exactly these inputs, `partial`
 * when only model files differ, undefined otherwise. Either way the env vars it read must hold the values
 * they had.
 */
export function loadSnapshot(path: string, keys: SnapshotKeys, flags: Record<string, unknown>): SnapshotFound | undefined {
  const flagsOk = (h: { flagNames: string[]; flags: string }) => flagValues(h.flagNames, flags) === h.flags;
  return withFile(path, (fd) => {
    try {
      // Headers first: a stale snapshot is tens of MB not worth reading.
      const base = readHeader<Header>(fd);
      if (!base || base.header.version !== VERSION || base.header.baseKey !== keys.baseKey || !envOk(base.header.env) || !flagsOk(base.header)) return undefined;
      const delta = readDelta(deltaPathOf(path), base.header.key, flagsOk);
      const sqlFiles = delta?.header.sqlFiles ?? base.header.sqlFiles;
      const current = (delta?.header.key ?? base.header.key) === keys.key;
      const body = readBytesAt(fd, base.bodyStart, base.header.bodyBytes);
      if (!body) return undefined;
      const data = deserialize(body) as Body;
      // The cold records stay on disk until first read, through this descriptor: it keeps this file's
      // content even if another run replaces the snapshot meanwhile.
      const coldFd = openSync(path, 'r');
      const coldBytes = () => {
        try {
          const bytes = readBytesAt(coldFd, base.bodyStart + base.header.bodyBytes);
          if (!bytes) throw new Error('the parse snapshot was cut short');
          return bytes;
        } finally {
          closeSync(coldFd);
        }
      };
      const nodes = new Map(joinCold(data.hot, coldBytes, data.coldFields, data.sharedCode).map((n) => [n.uniqueId, n]));
      for (const n of delta?.body.nodes ?? []) nodes.set(n.uniqueId, n);
      const restored: Restored = { nodes, disabled: new Map(data.disabled), warnings: data.warnings, order: delta?.body.order ?? data.order };
      const env = [...base.header.env, ...(delta?.header.env ?? [])].map(([name]) => name);
      const flagNames = [...base.header.flagNames, ...(delta?.header.flagNames ?? [])];
      if (current) return { kind: 'current', restored, env, flagNames };
      const changedFiles = Object.keys(keys.sqlFiles).filter((p) => sqlFiles[p] !== keys.sqlFiles[p]);
      return { kind: 'partial', restored, changedFiles, deltaIds: (delta?.body.nodes ?? []).map((n) => n.uniqueId), env, flagNames };
    } catch {
      return undefined; // unreadable or from another Node version: parse instead
    }
  });
}

function readDelta(path: string, baseKey: string, flagsOk: (h: DeltaHeader) => boolean): { header: DeltaHeader; body: DeltaBody } | undefined {
  return withFile(path, (fd) => {
    const h = readHeader<DeltaHeader>(fd);
    if (!h || h.header.version !== VERSION || h.header.base !== baseKey || !envOk(h.header.env) || !flagsOk(h.header)) return undefined;
    const body = readBytesAt(fd, h.bodyStart);
    return body ? { header: h.header, body: deserialize(body) as DeltaBody } : undefined;
  });
}

/** What a parse read besides files: env var names, and flag names with the flags' current values. */
export interface ParseReads {
  env: Iterable<string>;
  flagNames: Iterable<string>;
  flags: Record<string, unknown>;
}

const flagsOf = (reads: ParseReads) => {
  const flagNames = [...new Set(reads.flagNames)].sort();
  return { flagNames, flags: flagValues(flagNames, reads.flags) };
};

/** Write a whole snapshot (and drop any delta, which belonged to the previous one). */
export function saveSnapshot(path: string, keys: SnapshotKeys, reads: ParseReads, restored: Restored): void {
  rmSync(deltaPathOf(path), { force: true });
  const { cold, ...nodes } = split(restored.nodes.values());
  const body = serialize({ ...nodes, disabled: [...restored.disabled], warnings: restored.warnings, order: restored.order } satisfies Body);
  const header: Header = {
    version: VERSION, key: keys.key, baseKey: keys.baseKey, sqlFiles: keys.sqlFiles, env: envOf(reads.env), ...flagsOf(reads), bodyBytes: body.length,
  };
  writeWithHeader(path, header, body, cold);
}

/**
 * After a partial parse: record the nodes that differ from the base snapshot (`changedIds`, those of the
 * previous delta included) as a delta, or write a whole snapshot when the delta has grown large.
 */
export function saveDelta(path: string, keys: SnapshotKeys, reads: ParseReads, restored: Restored, changedIds: Iterable<string>): void {
  const ids = [...new Set(changedIds)];
  const base = withFile(path, (fd) => readHeader<Header>(fd)?.header);
  if (!base || ids.length > MAX_DELTA_NODES) {
    saveSnapshot(path, keys, reads, restored);
    return;
  }
  const header: DeltaHeader = { version: VERSION, base: base.key, key: keys.key, env: envOf(reads.env), ...flagsOf(reads), sqlFiles: keys.sqlFiles };
  const body: DeltaBody = { nodes: ids.map((id) => restored.nodes.get(id)!).filter(Boolean).map(plainNode), order: restored.order };
  writeWithHeader(deltaPathOf(path), header, serialize(body));
}

/** A node as a plain object with every field its own (a restored node keeps its cold fields on a prototype). */
function plainNode(node: GraphNode): GraphNode {
  return Object.fromEntries(fieldsOf(node)) as unknown as GraphNode;
}

/** Every field of a node: its own, and for a restored node the cold ones behind its prototype's getters. */
function fieldsOf(node: GraphNode): [string, unknown][] {
  const own = Object.entries(node);
  const proto = Object.getPrototypeOf(node) as object | null;
  if (!proto || proto === Object.prototype) return own;
  const seen = new Set(own.map(([k]) => k));
  // The prototype has a getter for every cold field of any node; a field this node lacks reads undefined.
  const cold = Object.getOwnPropertyNames(proto).filter((k) => !seen.has(k));
  const values = cold.map((k): [string, unknown] => [k, (node as unknown as Record<string, unknown>)[k]]);
  return [...own, ...values.filter(([, v]) => v !== undefined)];
}
