/** Finding a project's files under its configured paths, in a stable order. */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

export interface FoundFile {
  /** Path relative to the project dir, with forward slashes (how artifacts and errors name files). */
  path: string;
  absPath: string;
  /** Path relative to the resource root it was found under (`staging/stg_orders.sql`). */
  relPath: string;
  /** The configured root it was found under (`models`). */
  root: string;
}

/** Every file under `roots` (relative to `projectDir`) whose name ends with one of `exts`. */
export function findFiles(projectDir: string, roots: readonly string[], exts: readonly string[]): FoundFile[] {
  const out: FoundFile[] = [];
  for (const root of roots) {
    const abs = join(projectDir, root);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    // Relative paths are built while walking (path.relative per file was a third of walking 10,000 files).
    const rootPath = toPosix(relative(projectDir, abs));
    walk(abs, '', (file, rel) => {
      if (!exts.some((e) => file.endsWith(e))) return;
      out.push({ path: rootPath === '' ? rel : `${rootPath}/${rel}`, absPath: file, relPath: rel, root });
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Visit every file under `dir` with its absolute path and its path relative to the walk's start (`/`-separated). */
function walk(dir: string, relDir: string, visit: (file: string, rel: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = `${dir}${sep}${entry.name}`;
    const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
    if (entry.isDirectory()) walk(full, rel, visit);
    else if (entry.isFile()) visit(full, rel);
  }
}

export function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

/**
 * Write a file through a temporary file and a rename, so a reader never sees half a file and an interrupted
 * run leaves the previous one. `fill` writes the content to the open descriptor.
 */
function writeAtomic(path: string, fill: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    fill(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** `length` bytes of the file at `path` from `offset` (fewer at its end). */
export function readBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, offset));
  } finally {
    closeSync(fd);
  }
}

/**
 * Overwrite the first bytes of the file at `path` with `head`, in place: one write at the start of the file,
 * the rest (an 80 MB manifest) untouched. The caller guarantees `head` is as long as what it replaces.
 */
export function overwriteHead(path: string, head: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
}

/** The JSON in the file at `path`, or undefined when it is missing or not JSON (a cache to rebuild). */
export function readJsonIfAny<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Write `chunks` one after another, atomically (see writeAtomic). */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): void {
  writeAtomic(path, (fd) => {
    for (const c of chunks) writeAll(fd, c);
  });
}

/** Write all of `bytes` to `fd` (one writeSync may write fewer). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Write `data` as compact JSON (as dbt writes its artifacts), atomically (see writeAtomic). */
export function writeJsonAtomic(path: string, data: unknown): void {
  writeAtomic(path, (fd) => {
    // Streamed a few levels deep: a 30,000-node manifest is 80 MB as one string (and twice that while
    // it is encoded); written entry by entry it never exists whole. The bytes are JSON.stringify's.
    let buffered = '';
    const write = (s: string) => {
      buffered += s;
      if (buffered.length > 1 << 20) {
        writeSync(fd, buffered);
        buffered = '';
      }
    };
    writeJsonValue(data, 2, write);
    writeSync(fd, buffered);
  });
}

/** JSON.stringify(value), emitted in pieces: plain objects and arrays `depth` levels down are walked. */
function writeJsonValue(value: unknown, depth: number, write: (s: string) => void): void {
  const walkable = depth > 0 && value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
  if (!walkable) {
    write(JSON.stringify(value) ?? 'null');
    return;
  }
  if (Array.isArray(value)) {
    write('[');
    value.forEach((item, i) => {
      if (i) write(',');
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') write('null');
      else writeJsonValue(item, depth - 1, write);
    });
    write(']');
    return;
  }
  write('{');
  let first = true;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    write(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    writeJsonValue(item, depth - 1, write);
  }
  write('}');
}
