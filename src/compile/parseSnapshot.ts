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

interface Body {
  nodes: GraphNode[];
  disabled: [string, GraphNode][];
  /** Warnings the parse itself reported (the load's come again with the load). */
  warnings: Warning[];
}

export interface Restored {
  nodes: Map<string, GraphNode>;
  disabled: Map<string, GraphNode>;
  warnings: Warning[];
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
  h.update(JSON.stringify([buildId(), project.dir, project.cliVars, project.file.yaml.data, [...project.packageFiles.values()].map((f) => f.yaml.data), parts]));
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
    return { nodes: new Map(data.nodes.map((n) => [n.uniqueId, n])), disabled: new Map(data.disabled), warnings: data.warnings };
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
  const body: Body = { nodes: [...restored.nodes.values()], disabled: [...restored.disabled], warnings: restored.warnings };
  writeFileAtomic(path, [len, headerBytes, serialize(body)]);
}
