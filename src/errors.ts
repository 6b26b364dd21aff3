/**
 * User-facing errors. Anything the user can fix (bad YAML, unknown ref, SQL error) is a KilnError that
 * names where it happened and what to do; the CLI prints it without a stack trace.
 */

/** A place in a project file. Lines and columns are 1-based. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
  /**
   * A place in a YAML file whose line is worked out only when something asks for it (resolveLocation):
   * finding positions costs a second, slower reading of the file, which most runs never need.
   */
  pending?: PendingPosition;
}

/** Where in a YAML file, by path: `source` is shared by every location in one file. */
export interface PendingPosition {
  source: { absPath?: string };
  path: (string | number)[];
  /** The position of the key at `path`, not of its value. */
  key: boolean;
}

let positionFinder: ((p: PendingPosition) => { line: number; column: number } | undefined) | undefined;

/** Set by the YAML reader (project/yamlFile.ts), which is the one that can find positions. */
export function setPositionFinder(find: (p: PendingPosition) => { line: number; column: number } | undefined): void {
  positionFinder = find;
}

/** `loc` with its line and column, if it had a pending position: found now, and kept in `loc`. */
export function resolveLocation<L extends SourceLocation | undefined>(loc: L): L {
  if (!loc || loc.line !== undefined || !loc.pending) return loc;
  let found: { line: number; column: number } | undefined;
  try {
    found = positionFinder?.(loc.pending);
  } catch {
    found = undefined; // the file changed or went away: name the file alone
  }
  delete loc.pending;
  if (found) {
    loc.line = found.line;
    loc.column = found.column;
  }
  return loc;
}

export type ErrorKind = 'config' | 'compile' | 'graph' | 'runtime' | 'usage' | 'database';

export class KilnError extends Error {
  readonly kind: ErrorKind;
  readonly location?: SourceLocation;
  readonly hint?: string;
  /** Unique id of the node (model, seed …) the error belongs to, if any. */
  readonly node?: string;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { location?: SourceLocation; hint?: string; node?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.kind = kind;
    this.location = resolveLocation(opts.location);
    this.hint = opts.hint;
    this.node = opts.node;
  }

  /** Exit code for the CLI: 2 for usage/config/compile problems, 1 for failures while running. */
  get exitCode(): number {
    return this.kind === 'runtime' || this.kind === 'database' ? 1 : 2;
  }

  /** `file:line:col: message\n  hint` — the form every error is printed in. */
  format(): string {
    const where = formatLocation(this.location);
    const lines = [where ? `${where}: ${this.message}` : this.message];
    if (this.hint) lines.push(`  ${this.hint}`);
    return lines.join('\n');
  }
}

export function formatLocation(loc: SourceLocation | undefined): string {
  if (!loc) return '';
  resolveLocation(loc);
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.line !== undefined && loc.column !== undefined) s += `:${loc.column}`;
  return s;
}

/** A non-fatal finding (unknown key, deprecated form) that is printed but does not stop the run. */
export interface Warning {
  message: string;
  location?: SourceLocation;
  hint?: string;
}

export function formatWarning(w: Warning): string {
  const where = formatLocation(w.location);
  return (where ? `${where}: ` : '') + w.message + (w.hint ? `\n  ${w.hint}` : '');
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
