/**
 * A template's skeleton: its source cut, without Nunjucks, into the text every template of the same
 * structure shares and the values each holds itself (text between tags, and the content of string
 * literals inside them). Two templates with the same skeleton key lex and parse into the same tree but for
 * those values and the positions of their tokens, so TemplateShapes gives the second the first one's
 * generated code without lexing, parsing or generating anything (templateShapes.ts learns from the first
 * which value and which position goes where).
 *
 * The cut follows the Nunjucks lexer and parser (node_modules/nunjucks/src/lexer.js, parser.js):
 *   - text runs until `{{`, `{%` or `{#`; it is trimmed as the parser trims it (whitespace control: a tag
 *     closing with `-` strips the whitespace after it, one opening with `-` the whitespace before it), and
 *     text that trims to nothing is marked as such (Nunjucks then spells an empty string into the code);
 *   - a comment runs until the first `#}`;
 *   - code runs until the first `}}` or `%}` outside a string, whichever tag opened it.
 * Anything the cut might read differently from the lexer has no skeleton and is compiled the ordinary way:
 * raw and verbatim blocks, backslashes in strings (escapes), regular expression literals (`r/…/`), `#}` in
 * text (a lexer error), an unclosed tag or string, and `{% set x -%}` opening a block (the parser does not
 * strip the whitespace after it).
 *
 * @example
 *   templateSkeleton("select * from {{ ref('a') }}")
 *   // key: "\u0003{{ ref('\u0002') }}", values: ['select * from ', 'a']
 */

/** In a key: text, text that trims to nothing, a string literal's content, a comment. */
const TEXT = '\u0003';
const BLANK = '\u0004';
const STRING = '\u0002';
const COMMENT = '\u0005';

/** What a region of the source is: shared by every template of the skeleton, a value, or text (or a comment) of no value. */
export const SHARED = -1;
export const BLANK_TEXT = -2;

export interface TemplateSkeleton {
  /** The shared text, with TEXT, BLANK and STRING where the templates differ. */
  key: string;
  /** The values, in source order (text as the parser trims it). */
  values: string[];
  /**
   * Where each region of the source starts: regions follow one another in source order. A token of one
   * template is found in another of the same skeleton in the same region, at the same offset.
   */
  regionStarts: number[];
  /** Each region's value index, or SHARED, or BLANK_TEXT. */
  regionValues: number[];
}

/** The template's skeleton, or undefined when it should be compiled the ordinary way. */
export function templateSkeleton(src: string): TemplateSkeleton | undefined {
  if (/[\u0002-\u0005]/.test(src)) return undefined;
  const key: string[] = [];
  const values: string[] = [];
  const regionStarts: number[] = [];
  const regionValues: number[] = [];
  let sharedOpen = false;
  const shared = (at: number, text: string) => {
    if (!sharedOpen) {
      sharedOpen = true;
      regionStarts.push(at);
      regionValues.push(SHARED);
    }
    key.push(text);
  };
  const region = (at: number, kind: number, marker: string) => {
    sharedOpen = false;
    regionStarts.push(at);
    regionValues.push(kind);
    key.push(marker);
  };
  const value = (at: number, v: string, marker: string) => {
    region(at, values.length, marker);
    values.push(v);
  };

  /** Whether the last tag closed with `-` (the parser's dropLeadingWhitespace). */
  let dropLeading = false;
  let i = 0;
  while (i < src.length) {
    const open = nextTagOpen(src, i);
    const textEnd = open < 0 ? src.length : open;
    if (textEnd > i) {
      let text = src.slice(i, textEnd);
      if (text.includes('#}')) return undefined;
      if (dropLeading) text = text.replace(/^\s*/, '');
      if (open >= 0 && src[open + 2] === '-') text = text.replace(/\s*$/, '');
      if (text === '') region(i, BLANK_TEXT, BLANK);
      else value(i, text, TEXT);
    }
    if (open < 0) break;
    if (src[open + 1] === '#') {
      const close = src.indexOf('#}', open + 2);
      if (close < 0) return undefined;
      // A comment makes no node: only its whitespace control is shared (its text is in the key's marker).
      dropLeading = src[close - 1] === '-' && close - 1 >= open + 2;
      region(open, BLANK_TEXT, `${COMMENT}${src[open + 2] === '-' ? '-' : ''}${COMMENT}${dropLeading ? '-' : ''}`);
      i = close + 2;
      continue;
    }
    // Code: strings are values; it ends at the first }} or %} outside a string, whichever tag opened it.
    const codeStart = src[open + 2] === '-' ? open + 3 : open + 2;
    let j = codeStart;
    let codeFrom = open;
    for (;;) {
      if (j >= src.length) return undefined;
      const c = src[j];
      if (c === '"' || c === "'") {
        const end = src.indexOf(c, j + 1);
        if (end < 0) return undefined;
        const content = src.slice(j + 1, end);
        if (content.includes('\\')) return undefined;
        // An empty string stays in the shared text: Nunjucks' generated code spells it out.
        if (content === '') {
          j = end + 1;
          continue;
        }
        shared(codeFrom, src.slice(codeFrom, j + 1));
        value(j + 1, content, STRING);
        codeFrom = end;
        j = end + 1;
        continue;
      }
      if ((c === '}' || c === '%') && src[j + 1] === '}') break;
      if (c === 'r' && src[j + 1] === '/') return undefined;
      j++;
    }
    const tag = src.slice(open + 2, j);
    if (src[open + 1] === '%' && /^-?\s*(?:raw|verbatim|endraw|endverbatim)\b/.test(tag)) return undefined;
    // `{% set x -%}` opening a block: the parser skips its end without the whitespace control the cut applies.
    if (src[open + 1] === '%' && src[j - 1] === '-' && /^-?\s*set\b/.test(tag) && !/[^=!<>]=(?!=)/.test(tag)) return undefined;
    shared(codeFrom, src.slice(codeFrom, j + 2));
    dropLeading = j - 1 >= codeStart && src[j - 1] === '-';
    i = j + 2;
  }
  return { key: key.join(''), values, regionStarts, regionValues };
}

/** The next `{{`, `{%` or `{#` from `from`, or -1. */
function nextTagOpen(src: string, from: number): number {
  for (let i = src.indexOf('{', from); i >= 0; i = src.indexOf('{', i + 1)) {
    const c = src[i + 1];
    if (c === '{' || c === '%' || c === '#') return i;
  }
  return -1;
}

/** Offsets of the starts of lines (Nunjucks counts lines by `\n` alone, from 0). */
export function lineStarts(src: string): number[] {
  const starts = [0];
  for (let i = src.indexOf('\n'); i >= 0; i = src.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** The index of the last of the sorted `starts` at or before `offset`. */
export function lastAtOrBefore(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
