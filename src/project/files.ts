/** Finding a project's files under its configured paths, in a stable order. */
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
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
    walk(abs, (file) => {
      if (!exts.some((e) => file.endsWith(e))) return;
      out.push({
        path: toPosix(relative(projectDir, file)),
        absPath: file,
        relPath: toPosix(relative(abs, file)),
        root,
      });
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function walk(dir: string, visit: (file: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, visit);
    else if (entry.isFile()) visit(full);
  }
}

export function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

/**
 * Write `data` as compact JSON (as dbt writes its artifacts) through a temporary file and a rename, so a
 * reader never sees half a file and an interrupted run leaves the previous one.
 */
export function writeJsonAtomic(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, path);
}
