/**
 * The parse snapshot (target/kiln_parse_snapshot.bin): every node a parse produced, after tests were
 * declared and the graph resolved, kept under a key of everything the parse read — the project's files,
 * the project and package files' settings, vars, the target, Kiln's build — plus the values of the
 * environment variables it read. When nothing of that changed, a run restores the nodes instead of parsing
 * (dbt keeps its whole manifest in partial_parse.msgpack for the same reason). Any change falls back to
 * the per-model parse cache, which re-renders only what the change touches.
 *
 * Layout: a 4-byte length, a small JSON header (version, key, env value hashes), then the nodes in V8's
 * serialization format, which keeps `undefined` fields and shared objects exactly, so a restored node is
 * the node the parse made.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { Warning } from '../errors.js';
import { findFiles, writeFileAtomic } from '../project/files.js';
import { checksum, type Project } from '../project/loadProject.js';
import type { GraphNode } from '../project/nodes.js';

const VERSION = 1;

interface Header {
  version: number;
  key: string;
  /** Each env var the parse read, with a hash of its value then (null: unset). Values may be secrets. */
  env: [string, string | null][];
}

/**
 * The nodes, split: the fields a warm compile reads ("hot": identity, config, relation, parsed SQL, edges)
 * and the rest ("cold": raw code, columns, descriptions, test arguments …), which is deserialized only
 * when something first reads one of them. Restoring the hot half of a 30,000-node project takes a third
 * of the time of restoring everything, and produces a third of the garbage.
 */
interface Body {
  hot: Record<string, unknown>[];
  /** V8-serialized records of the other fields, one per node in the order of `hot`. */
  cold: Uint8Array;
  coldFields: string[];
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
function split(nodes: Iterable<GraphNode>): Pick<Body, 'hot' | 'cold' | 'coldFields'> {
  const configs = new Map<string, unknown>();
  const hot: Record<string, unknown>[] = [];
  const cold: Record<string, unknown>[] = [];
  const coldFields = new Set<string>();
  for (const node of nodes) {
    const h: Record<string, unknown> = {};
    const c: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (!HOT_FIELDS.has(k)) {
        c[k] = v;
        coldFields.add(k);
      } else if (k === 'config') {
        const key = JSON.stringify(v);
        if (!configs.has(key)) configs.set(key, v);
        h[k] = configs.get(key);
      } else {
        h[k] = v;
      }
    }
    hot.push(h);
    cold.push(c);
  }
  return { hot, cold: serialize(cold), coldFields: [...coldFields] };
}

/** A restored node's place in the cold records (a symbol: never enumerated, never serialized). */
const SNAPSHOT_INDEX = Symbol('kiln.snapshotIndex');
type Indexed = { [SNAPSHOT_INDEX]: number };

/**
 * Give each hot record its cold fields: getters on a shared prototype, which deserialize every cold record
 * on first use. Assigning a cold field makes it the node's own.
 */
function joinCold(hot: Record<string, unknown>[], coldBytes: Uint8Array, coldFields: readonly string[]): GraphNode[] {
  let cold: Record<string, unknown>[] | undefined;
  const recordOf = (node: object) => (cold ??= deserialize(coldBytes) as Record<string, unknown>[])[(node as Indexed)[SNAPSHOT_INDEX]];
  const descriptors: PropertyDescriptorMap = {};
  for (const field of coldFields) {
    descriptors[field] = {
      get(this: object) {
        return recordOf(this)[field];
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
 * The key: `parts` (version, target, adapter, macro files …) and every input file of the project. Unit
 * test fixtures under test-paths are read at parse time, so they count too.
 */
export function snapshotKey(project: Project, parts: unknown[]): string {
  const h = createHash('sha1');
  // The project files as written and as rendered (a name or path may come from an env var).
  const settings = [project.name, project.file.yaml.data, [...project.packageFiles.values()].map((f) => [f.name, f.yaml.data])];
  h.update(JSON.stringify([buildId(), project.dir, project.cliVars, settings, parts]));
  for (const list of [project.models, project.analyses, project.snapshots, project.singularTests, project.seeds, project.schemaFiles]) {
    for (const f of list) h.update(`\n${f.path}\0${f.checksum}`);
  }
  for (const f of findFiles(project.dir, project.file.testPaths, ['.csv', '.sql'])) {
    h.update(`\n${f.path}\0${checksum(readFileSync(f.absPath, 'utf8'))}`);
  }
  return h.digest('hex');
}

/** The snapshot at `path` if it was made under `key` and the env vars it read still hold the same values. */
export function loadSnapshot(path: string, key: string): Restored | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    // Read the header first: a stale snapshot is tens of MB not worth reading.
    const len = Buffer.alloc(4);
    if (readSync(fd, len, 0, 4, 0) !== 4) return undefined;
    const headerBytes = Buffer.alloc(len.readUInt32LE(0));
    if (readSync(fd, headerBytes, 0, headerBytes.length, 4) !== headerBytes.length) return undefined;
    const header = JSON.parse(headerBytes.toString('utf8')) as Header;
    if (header.version !== VERSION || header.key !== key) return undefined;
    if (!header.env.every(([name, h]) => envHash(name) === h)) return undefined;
    const size = statSync(path).size - 4 - headerBytes.length;
    const body = Buffer.allocUnsafe(size);
    if (readSync(fd, body, 0, size, 4 + headerBytes.length) !== size) return undefined;
    const data = deserialize(body) as Body;
    const nodes = joinCold(data.hot, data.cold, data.coldFields);
    return { nodes: new Map(nodes.map((n) => [n.uniqueId, n])), disabled: new Map(data.disabled), warnings: data.warnings, order: data.order };
  } catch {
    return undefined; // unreadable or from another Node version: parse instead
  } finally {
    closeSync(fd);
  }
}

export function saveSnapshot(path: string, key: string, envRead: Iterable<string>, restored: Restored): void {
  const header: Header = { version: VERSION, key, env: [...new Set(envRead)].sort().map((name) => [name, envHash(name)]) };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(headerBytes.length, 0);
  const body: Body = { ...split(restored.nodes.values()), disabled: [...restored.disabled], warnings: restored.warnings, order: restored.order };
  writeFileAtomic(path, [len, headerBytes, serialize(body)]);
}
