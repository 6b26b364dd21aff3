/**
 * YAML files with source positions: every value can be traced back to its file:line:column, so that
 * config errors and warnings point at the exact key.
 */
import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { KilnError, setPositionFinder, type PendingPosition, type SourceLocation } from '../errors.js';
import { readPlainYaml } from './yamlPlain.js';

export type YamlPath = readonly (string | number)[];

/** The file a pending position belongs to; the link to its YamlFile is not serialized (not enumerable). */
type PositionSource = PendingPosition['source'] & { readonly yamlFile?: YamlFile };

/**
 * What a pending position's `source` is written as in JSON (the schema cache): a marker, not the file's
 * path. The file is known where the JSON is read back (SchemaCache.get), as it is then; and its path, once
 * per position, was a third of the cache.
 */
export const SOURCE_IN_JSON = '\u0000yaml-file';

/** The `source` of the pending positions of the YAML file at `absPath`. */
export function positionSource(absPath: string | undefined): PendingPosition['source'] {
  const source = absPath === undefined ? {} : { absPath };
  Object.defineProperty(source, 'toJSON', { value: () => SOURCE_IN_JSON, enumerable: false });
  return source;
}

export class YamlFile {
  private positioned?: { doc: Document; lines: LineCounter };
  private readonly source: PositionSource;

  private constructor(
    readonly file: string,
    private readonly text: string,
    /** The parsed content as plain JS. */
    readonly data: unknown,
    absPath: string | undefined,
    positioned?: { doc: Document; lines: LineCounter },
  ) {
    this.positioned = positioned;
    this.source = positionSource(absPath);
    Object.defineProperty(this.source, 'yamlFile', { value: this, enumerable: false });
  }

  static read(path: string, displayPath = path): YamlFile {
    return YamlFile.parse(readFileSync(path, 'utf8'), displayPath, path);
  }

  /**
   * Most files are read fast into plain values (readPlainYaml), their positions found only when a message
   * needs one; a file the fast reading refuses is read with positions at once, which reports its error.
   */
  static parse(text: string, file: string, absPath?: string): YamlFile {
    const plain = readPlainYaml(text);
    if (plain) return new YamlFile(file, text, plain.value ?? {}, absPath);
    const positioned = positionedDocument(text, file);
    let data: unknown;
    try {
      data = positioned.doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      // An alias to an anchor set later, or aliases expanding past the limit.
      throw new KilnError('config', `invalid YAML: ${(e as Error).message.split('\n')[0]}`, {
        location: { file },
        hint: 'Define each anchor (&name) before its aliases (*name) use it.',
      });
    }
    return new YamlFile(file, text, data ?? {}, absPath, positioned);
  }

  /** The `yaml` package's document, with positions (built on first use). */
  get doc(): Document {
    return this.withPositions().doc;
  }

  private withPositions(): { doc: Document; lines: LineCounter } {
    return (this.positioned ??= positionedDocument(this.text, this.file));
  }

  /**
   * Where the node at `path` is (its key when `key` is true): a location whose line and column are found
   * when a message first needs them (resolveLocation). Until then it is this file and the path.
   */
  locate(path: YamlPath, key = false): SourceLocation {
    return { file: this.file, pending: { source: this.source, path: [...path], key } };
  }

  /** Position of the node at `path` (of its key when `key` is true), or of the nearest existing parent. */
  position(path: YamlPath, key = false): { line: number; column: number } | undefined {
    let lines: LineCounter;
    try {
      lines = this.withPositions().lines;
    } catch {
      return undefined; // read by js-yaml, refused by the `yaml` package: no positions to give
    }
    for (let n = path.length; n >= 0; n--) {
      const node = key && n === path.length ? this.keyNode(path) : (this.doc.getIn(path.slice(0, n), true) as Node | undefined);
      if (node && node.range) {
        const pos = lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  }

  private keyNode(path: YamlPath): Node | undefined {
    if (path.length === 0) return undefined;
    const parent = this.doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
      return pair?.key as Node | undefined;
    }
    if (isSeq(parent) && typeof last === 'number') return parent.items[last] as Node | undefined;
    return undefined;
  }
}

/**
 * Positions for a pending location: from its YamlFile while this process has it, else (a location restored
 * from the parse snapshot, whose YAML files are unchanged) by reading the file again.
 */
const rereadFiles = new Map<string, { stamp: string; file: YamlFile }>();
setPositionFinder(({ source, path, key }) => {
  let file = (source as PositionSource).yamlFile;
  if (!file && source.absPath) {
    const s = statSync(source.absPath);
    const stamp = `${s.size}:${s.mtimeMs}`;
    let known = rereadFiles.get(source.absPath);
    if (known?.stamp !== stamp) rereadFiles.set(source.absPath, (known = { stamp, file: YamlFile.read(source.absPath) }));
    file = known.file;
  }
  return file?.position(path, key);
});

/** The `yaml` package's reading of `text`, with positions; a syntax error is thrown with its line. */
function positionedDocument(text: string, file: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = err.linePos?.[0];
    const first = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new KilnError('config', `invalid YAML: ${first}`, {
      location: { file, line: pos?.line, column: pos?.col },
      hint: 'Fix the YAML syntax (indentation, a missing colon or quote) at this line.',
    });
  }
  return { doc, lines };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}
