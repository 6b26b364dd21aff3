/**
 * What Kiln last wrote under target/compiled/ (target/kiln_compiled_index.json): each file's content hash,
 * size and modification time, and each folder's modification time and inode. A compile that produces the
 * same SQL again need not read the file back — on a 30,000-node project, reading (or even stat-ing) every
 * compiled file was a third of a warm compile. A folder whose stat is unchanged has had no file added,
 * removed or replaced, so its files are trusted as written; in a folder that changed, each file's own stat
 * is checked, and a file that no longer matches is written again.
 */
import { hash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readJsonIfAny, writeJsonAtomic } from '../project/files.js';

/** [content hash, size, mtimeMs] */
type FileEntry = [string, number, number];

interface DirEntry {
  mtimeMs: number;
  ino: number;
  files: Map<string, FileEntry>;
}

interface StoredDir {
  mtimeMs: number;
  ino: number;
  files: [string, FileEntry][];
}

/** A whole `kiln compile`: its key (parse and selection) and the key of the manifest it wrote. */
export interface LastCompile {
  key: string;
  manifestKey: string;
  /** [unique id, SQL hash] of the nodes it rendered at compile time (their SQL may depend on the warehouse). */
  rendered: [string, string][];
}

const VERSION = 2;

/** A compiled file's content hash (crypto.hash: one call, no Hash object per file). */
export function sqlHash(sql: string): string {
  return hash('sha1', sql, 'base64');
}

function split(file: string): [string, string] {
  const at = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  return [file.slice(0, at), file.slice(at + 1)];
}

export class CompiledIndex {
  private dirty = false;
  /** Folders whose stat matched the index this run (their files are trusted). */
  private readonly unchangedDirs = new Map<string, boolean>();
  /** Folders written to this run, or found changed: their stat is recorded again on save. */
  private readonly touchedDirs = new Set<string>();
  /** In each folder, the files known right this run (checked or written). */
  private readonly verified = new Map<string, Set<string>>();

  private constructor(
    private readonly path: string,
    private readonly dirs: Map<string, DirEntry>,
    private compile: LastCompile | undefined,
  ) {}

  /** The index at `path` (an empty one when it is missing or unreadable). */
  static open(path: string): CompiledIndex {
    const data = readJsonIfAny<{ version: number; dirs: [string, StoredDir][]; compile?: LastCompile }>(path);
    const dirs = data?.version === VERSION ? data.dirs : [];
    const compile = data?.version === VERSION ? data.compile : undefined;
    return new CompiledIndex(path, new Map(dirs.map(([d, e]) => [d, { mtimeMs: e.mtimeMs, ino: e.ino, files: new Map(e.files) }])), compile);
  }

  /**
   * The last `kiln compile`, when it was made under `key` and no compiled file was written or removed
   * since: every folder is as it was then (see NodeCompiler.previousCompile).
   */
  lastCompile(key: string): LastCompile | undefined {
    if (this.compile?.key !== key) return undefined;
    for (const [dir, entry] of this.dirs) if (!this.dirUnchanged(dir, entry)) return undefined;
    return this.compile;
  }

  /** Record a whole compile; any later write forgets it. */
  recordCompile(compile: LastCompile): void {
    this.compile = compile;
    this.dirty = true;
  }

  private dirUnchanged(dir: string, entry: DirEntry): boolean {
    let same = this.unchangedDirs.get(dir);
    if (same === undefined) {
      try {
        const s = statSync(dir);
        same = s.mtimeMs === entry.mtimeMs && s.ino === entry.ino;
      } catch {
        same = false;
      }
      this.unchangedDirs.set(dir, same);
      // A folder that changed is checked file by file, then recorded again; the recorded compile no longer
      // describes it (a command that writes nothing, `kiln show`, would otherwise record its new stat under
      // that compile's name).
      if (!same) {
        this.touchedDirs.add(dir);
        this.compile = undefined;
      }
    }
    return same;
  }

  /** True when `file` is still exactly what was written with content hash `hash`. */
  holds(file: string, hash: string): boolean {
    const [dir, name] = split(file);
    const d = this.dirs.get(dir);
    if (!d) return false;
    const same = this.dirUnchanged(dir, d);
    const e = d.files.get(name);
    if (!e || e[0] !== hash) return false;
    if (same) return true;
    try {
      const s = statSync(file);
      if (s.size !== e[1] || s.mtimeMs !== e[2]) return false;
    } catch {
      return false;
    }
    this.verifiedIn(dir).add(name);
    return true;
  }

  private verifiedIn(dir: string): Set<string> {
    let set = this.verified.get(dir);
    if (!set) this.verified.set(dir, (set = new Set()));
    return set;
  }

  /** Whether the index has a record of `file` (Kiln wrote it before). */
  knows(file: string): boolean {
    const [dir, name] = split(file);
    return this.dirs.get(dir)?.files.has(name) ?? false;
  }

  /** Note that `file` was just written with content hash `hash`, and its stat after the write. */
  written(file: string, hash: string, stat: { size: number; mtimeMs: number }): void {
    const [dir, name] = split(file);
    let d = this.dirs.get(dir);
    if (!d) this.dirs.set(dir, (d = { mtimeMs: -1, ino: -1, files: new Map() }));
    d.files.set(name, [hash, stat.size, stat.mtimeMs]);
    this.verifiedIn(dir).add(name);
    this.touchedDirs.add(dir);
    this.dirty = true;
    // The files are no longer what the recorded compile left.
    this.compile = undefined;
  }

  save(): void {
    for (const dir of this.touchedDirs) {
      const d = this.dirs.get(dir);
      if (!d) continue;
      // In a folder that changed, only what was checked or written this run is known; the rest may be gone.
      if (this.unchangedDirs.get(dir) !== true) {
        const known = this.verified.get(dir) ?? new Set();
        for (const name of [...d.files.keys()]) if (!known.has(name)) d.files.delete(name);
      }
      try {
        const s = statSync(dir);
        d.mtimeMs = s.mtimeMs;
        d.ino = s.ino;
      } catch {
        this.dirs.delete(dir);
      }
      this.dirty = true;
    }
    this.touchedDirs.clear();
    if (!this.dirty) return;
    const dirs: [string, StoredDir][] = [...this.dirs].map(([d, e]) => [d, { mtimeMs: e.mtimeMs, ino: e.ino, files: [...e.files] }]);
    writeJsonAtomic(this.path, { version: VERSION, dirs, compile: this.compile });
    this.dirty = false;
  }
}
