/**
 * YAML files with source positions: every value can be traced back to its file:line:column, so that
 * config errors and warnings point at the exact key.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { KilnError, type SourceLocation } from '../errors.js';

export type YamlPath = readonly (string | number)[];

export class YamlFile {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
    /** The parsed content as plain JS. */
    readonly data: unknown,
  ) {}

  static read(path: string, displayPath = path): YamlFile {
    return YamlFile.parse(readFileSync(path, 'utf8'), displayPath);
  }

  static parse(text: string, file: string): YamlFile {
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
    return new YamlFile(file, doc, lines, doc.toJS({ maxAliasCount: 1000 }) ?? {});
  }

  /** Position of the node at `path` (of its key when `key` is true), or of the nearest existing parent. */
  locate(path: YamlPath, key = false): SourceLocation {
    for (let n = path.length; n >= 0; n--) {
      const node = key && n === path.length ? this.keyNode(path) : (this.doc.getIn(path.slice(0, n), true) as Node | undefined);
      if (node && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { file: this.file, line: pos.line, column: pos.col };
      }
    }
    return { file: this.file };
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}
