/**
 * Writing manifest.json from the previous one where it can. A node's entry is a function of the parse
 * (the inputs of the parse snapshot, but for model file contents), of its own file, its edges and the SQL
 * it compiled to. So:
 * - when nothing of that changed for any node, only the metadata (invocation id, time) is written anew,
 *   over the old one in place (same length);
 * - when some nodes changed (a model file edited), the other entries are copied from the old file byte for
 *   byte and only the changed ones serialized.
 * Serializing a 30,000-node manifest (80 MB) was most of a warm compile.
 *
 * target/kiln_manifest_state.json remembers the keys the manifest was written under, where its metadata
 * ends, and the file's size and modification time: a manifest anyone else touched is written whole again.
 * target/kiln_manifest_entries.json (written only with entries, so the metadata-only path stays cheap)
 * holds each entry's byte range and fingerprint.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { overwriteHead, readBytes, readJsonIfAny, writeJsonAtomic } from '../project/files.js';

/** kiln_manifest_state.json: small, rewritten on every manifest write. */
interface State {
  version: number;
  /** Every entry as it is: only the metadata may differ. */
  key: string | null;
  /** Entries may be reused one by one (their fingerprints still to compare). */
  entriesKey: string | null;
  /** Bytes of `{"metadata":{…}`: the entries start right after. */
  headerBytes: number;
  size: number;
  mtimeMs: number;
  /** Names the entries file written with this manifest (it is rewritten only when entries are). */
  entriesId: string;
}

/** kiln_manifest_entries.json: uniqueId → [start, end, fingerprint] of each entry in the file. */
interface Entries {
  id: string;
  entries: Record<string, [number, number, string]>;
}

const VERSION = 3;
/** Manifest text is encoded into chunks of this size before it is written. */
const CHUNK_BYTES = 1 << 20;
/** What follows the metadata in every manifest Kiln writes. */
const ENTRIES_START = Buffer.from(',"nodes":');
const statePath = (targetDir: string) => join(targetDir, 'kiln_manifest_state.json');
const entriesPath = (targetDir: string) => join(targetDir, 'kiln_manifest_entries.json');

/** The manifest's opening up to the end of its metadata, as the full write produces it. */
export function manifestHeader(metadata: unknown): string {
  return `{"metadata":${JSON.stringify(metadata)}`;
}

/**
 * The key of a manifest's entries: the parse's key, whether relation names came from an open warehouse,
 * and each compiled node's SQL (order-independent: nodes compile in any order under threads).
 */
export function manifestKey(parseKey: string, warehouseOpen: boolean, compiled: ReadonlyMap<string, { sqlHash: string }> | undefined): string {
  const h = createHash('sha1').update(`${parseKey}\0${warehouseOpen}`);
  // One update: 30,000 small ones cost more than the hashing.
  h.update([...(compiled?.keys() ?? [])].sort().map((id) => `\0${id}\0${compiled!.get(id)!.sqlHash}`).join(''));
  return h.digest('hex');
}

/** The state, when manifest.json is still the file it describes. */
function currentState(targetDir: string): State | undefined {
  const state = readJsonIfAny<State>(statePath(targetDir));
  if (!state || state.version !== VERSION) return undefined;
  const path = join(targetDir, 'manifest.json');
  try {
    const s = statSync(path);
    if (s.size !== state.size || s.mtimeMs !== state.mtimeMs) return undefined;
    return readBytes(path, state.headerBytes, ENTRIES_START.length).equals(ENTRIES_START) ? state : undefined;
  } catch {
    return undefined;
  }
}

function recordState(targetDir: string, state: Omit<State, 'version' | 'size' | 'mtimeMs'>): void {
  const s = statSync(join(targetDir, 'manifest.json'));
  writeJsonAtomic(statePath(targetDir), { version: VERSION, ...state, size: s.size, mtimeMs: s.mtimeMs } satisfies State);
}

/**
 * Write the manifest at `targetDir/manifest.json` from the previous one when no entry would change; false
 * when it must be written (see ManifestWriter).
 */
export function reuseManifest(targetDir: string, key: string, metadata: unknown): boolean {
  const state = currentState(targetDir);
  if (!state || state.key !== key) return false;
  const header = Buffer.from(manifestHeader(metadata));
  // Fixed-width fields keep the metadata's length; were it to change, every recorded entry range would
  // shift, so the manifest is written through ManifestWriter instead.
  if (header.length !== state.headerBytes) return false;
  overwriteHead(join(targetDir, 'manifest.json'), header);
  recordState(targetDir, { ...state, headerBytes: header.length });
  return true;
}

/**
 * Streams a manifest to a temporary file, entry by entry, copying an entry from the previous manifest
 * when its fingerprint is the one it was written with; then renames it into place and records the state.
 *
 * @example
 *   const w = new ManifestWriter(targetDir, key, entriesKey);
 *   w.raw(manifestHeader(meta));
 *   w.raw(',"nodes":{');
 *   w.entry('model.shop.a', fingerprint, () => entryOf(a), true);
 *   w.raw('}}');
 *   w.finish();
 */
export class ManifestWriter {
  private readonly path: string;
  private readonly tmp: string;
  private readonly fd: number;
  private offset = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private headerBytes = -1;
  private readonly entries: Entries['entries'] = {};
  private readonly old?: { entries: Entries['entries']; bytes: Buffer };
  /** Entries copied from the previous manifest, and serialized. */
  reused = 0;
  serialized = 0;

  constructor(
    private readonly targetDir: string,
    private readonly key: string | undefined,
    private readonly entriesKey: string | undefined,
  ) {
    this.path = join(targetDir, 'manifest.json');
    this.tmp = `${this.path}.${process.pid}.tmp`;
    const state = entriesKey ? currentState(targetDir) : undefined;
    const previous = state && state.entriesKey === entriesKey ? readJsonIfAny<Entries>(entriesPath(targetDir)) : undefined;
    if (previous && previous.id === state!.entriesId) this.old = { entries: previous.entries, bytes: readFileSync(this.path) };
    mkdirSync(targetDir, { recursive: true });
    this.fd = openSync(this.tmp, 'w');
  }

  /**
   * Text goes into this chunk, encoded in place (a Buffer per entry cost 30,000 allocations and copies).
   * Bytes from `sealed` to `used` are not yet queued for writing.
   */
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private sealed = 0;
  private used = 0;

  raw(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (text.length * 3 > CHUNK_BYTES) {
      this.push(Buffer.from(text));
      return;
    }
    if (this.used + text.length * 3 > this.chunk.length) {
      this.sealChunk();
      this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      this.sealed = this.used = 0;
    }
    const n = this.chunk.write(text, this.used);
    this.used += n;
    this.offset += n;
  }

  /** Queue the chunk's text so far for writing (its bytes are counted already); more text follows it. */
  private sealChunk(): void {
    if (this.used === this.sealed) return;
    const filled = this.chunk.subarray(this.sealed, this.used);
    this.sealed = this.used;
    this.enqueue(filled);
  }

  /** The end of the metadata (where a later write may replace it). */
  markHeader(): void {
    this.headerBytes = this.offset;
  }

  /** `"id":<entry>`, with a comma before it unless `first`. */
  entry(id: string, fingerprint: string, make: () => unknown, first: boolean): void {
    this.raw(`${first ? '' : ','}${JSON.stringify(id)}:`);
    const start = this.offset;
    const prev = this.old?.entries[id];
    if (prev && prev[2] === fingerprint) {
      this.push(this.old!.bytes.subarray(prev[0], prev[1]));
      this.reused++;
    } else {
      this.raw(JSON.stringify(make()));
      this.serialized++;
    }
    this.entries[id] = [start, this.offset, fingerprint];
  }

  /** Bytes after the text so far. */
  private push(bytes: Buffer): void {
    this.sealChunk();
    this.offset += bytes.length;
    this.enqueue(bytes);
  }

  private enqueue(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > 1 << 20) this.flush();
  }

  private flush(): void {
    this.sealChunk();
    // Gathered writes: the pieces (mostly slices of the old file) are never copied into one buffer.
    let pieces = this.pending;
    while (pieces.length) {
      let written = writevSync(this.fd, pieces.slice(0, 1024));
      let i = 0;
      while (i < pieces.length && written >= pieces[i].length) written -= pieces[i++].length;
      pieces = pieces.slice(i);
      if (written > 0) pieces[0] = pieces[0].subarray(written);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Give up: the temporary file goes, the previous manifest stays. */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }

  finish(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
    const entriesId = randomUUID();
    writeJsonAtomic(entriesPath(this.targetDir), { id: entriesId, entries: this.entries } satisfies Entries);
    renameSync(this.tmp, this.path);
    recordState(this.targetDir, { key: this.key ?? null, entriesKey: this.entriesKey ?? null, headerBytes: this.headerBytes, entriesId });
  }
}
