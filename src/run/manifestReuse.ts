/**
 * Re-using the previous manifest.json. Its entries are a function of the parse (the parse snapshot's key)
 * and of the SQL each node compiled to; when both are as they were, everything after the metadata is
 * byte for byte what it was, and only the metadata (invocation id, time) is written anew over the old
 * (same length: in place). Serializing a 30,000-node manifest (80 MB) took most of a warm compile.
 *
 * target/kiln_manifest_state.json remembers the key the manifest was written under, where its metadata
 * ends, and its size and modification time: a manifest anyone else touched is written whole again.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sqlHash } from '../compile/compiledIndex.js';
import { readBytes, replaceHead, writeJsonAtomic } from '../project/files.js';

interface State {
  version: number;
  key: string | null;
  /** Bytes of `{"metadata":{…}`: the entries start right after. */
  headerBytes: number;
  size: number;
  mtimeMs: number;
}

const VERSION = 1;
/** What follows the metadata in every manifest Kiln writes. */
const ENTRIES_START = Buffer.from(',"nodes":');
const statePath = (targetDir: string) => join(targetDir, 'kiln_manifest_state.json');

/** The manifest's opening up to the end of its metadata, as the full write produces it. */
export function manifestHeader(metadata: unknown): string {
  return `{"metadata":${JSON.stringify(metadata)}`;
}

/**
 * The key of a manifest's entries: the parse's key, whether relation names came from an open warehouse,
 * and each compiled node's SQL (order-independent: nodes compile in any order under threads).
 */
export function manifestKey(parseKey: string, warehouseOpen: boolean, compiled: ReadonlyMap<string, { sql: string; sqlHash?: string }> | undefined): string {
  const h = createHash('sha1').update(`${parseKey}\0${warehouseOpen}`);
  for (const id of [...(compiled?.keys() ?? [])].sort()) {
    const c = compiled!.get(id)!;
    h.update(`\0${id}\0${c.sqlHash ?? sqlHash(c.sql)}`);
  }
  return h.digest('hex');
}

function readState(targetDir: string): State | undefined {
  try {
    const s = JSON.parse(readFileSync(statePath(targetDir), 'utf8')) as State;
    return s.version === VERSION ? s : undefined;
  } catch {
    return undefined;
  }
}

function recordState(targetDir: string, path: string, key: string | undefined, headerBytes: number): void {
  const s = statSync(path);
  const state: State = { version: VERSION, key: key ?? null, headerBytes, size: s.size, mtimeMs: s.mtimeMs };
  writeJsonAtomic(statePath(targetDir), state);
}

/**
 * Write the manifest at `targetDir/manifest.json` from the previous one when its entries would not change;
 * false when it must be written whole.
 */
export function reuseManifest(targetDir: string, key: string, metadata: unknown): boolean {
  const path = join(targetDir, 'manifest.json');
  const state = readState(targetDir);
  if (!state || state.key !== key) return false;
  try {
    const s = statSync(path);
    if (s.size !== state.size || s.mtimeMs !== state.mtimeMs) return false;
    if (!readBytes(path, state.headerBytes, ENTRIES_START.length).equals(ENTRIES_START)) return false;
  } catch {
    return false;
  }
  const header = Buffer.from(manifestHeader(metadata));
  replaceHead(path, state.headerBytes, header);
  recordState(targetDir, path, key, header.length);
  return true;
}

/** After a whole write: remember what the manifest was written under. */
export function manifestWritten(targetDir: string, key: string | undefined, metadata: unknown): void {
  recordState(targetDir, join(targetDir, 'manifest.json'), key, Buffer.byteLength(manifestHeader(metadata)));
}
