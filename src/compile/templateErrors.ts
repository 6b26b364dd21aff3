/**
 * Turning Nunjucks errors into KilnErrors that name the file and the template line. Syntax errors carry
 * 1-based lines; render errors carry 0-based lines in `lineno` (the environment runs with `dev: true` so
 * the original error survives as `cause`).
 */
import { KilnError } from '../errors.js';

interface NunjucksError extends Error {
  lineno?: number;
  colno?: number;
  cause?: unknown;
}

/** Error thrown by Kiln's own context functions during a render, unwrapped from Nunjucks' wrapper. */
export function rootCause(e: unknown): unknown {
  let cur = e;
  for (let i = 0; i < 10 && cur && typeof cur === 'object' && 'cause' in cur && (cur as NunjucksError).cause; i++) {
    cur = (cur as NunjucksError).cause;
  }
  return cur;
}

function cleanMessage(message: string): string {
  return message
    .replace(/^\([^)]*\)(\s*\[Line \d+, Column \d+\])?\s*/, '')
    .replace(/^Template render error:\s*/, '')
    .replace(/^(Error|TypeError|ReferenceError):\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Map common Nunjucks messages to advice a dbt user can act on. */
function hintFor(message: string): string | undefined {
  if (/unknown block tag: (\w+)/.test(message)) {
    const tag = /unknown block tag: (\w+)/.exec(message)![1];
    return `'{% ${tag} %}' is not a Jinja tag Kiln knows. Check the spelling, or close a block opened earlier.`;
  }
  if (/expected (elif, else, or endif|endfor|endmacro|endset|endcall)/.test(message) || /end of file/.test(message)) {
    return 'A block is not closed: add the missing {% endif %}, {% endfor %} or {% endmacro %}.';
  }
  if (/Unable to call `([^`]+)`/.test(message)) {
    const name = /Unable to call `([^`]+)`/.exec(message)![1];
    return `'${name}' is not a macro or function here. Check its name, or define it in a macro file.`;
  }
  if (/unexpected token|expected/.test(message)) return 'Fix the Jinja syntax at this line.';
  return undefined;
}

/**
 * @param phase 'syntax' errors come from compiling the template (1-based line); 'render' errors from running it.
 */
/** "It happened inside macro 'x' (file:line)", when the error passed out of a project or package macro. */
function macroOrigin(...errors: unknown[]): string | undefined {
  for (const e of errors) {
    const origin = e && typeof e === 'object' ? (e as { kilnMacro?: string }).kilnMacro : undefined;
    if (origin) return `It happened inside macro '${origin}.`;
  }
  return undefined;
}

function joinHints(...hints: (string | undefined)[]): string | undefined {
  const present = hints.filter((h): h is string => !!h);
  return present.length ? present.join('\n  ') : undefined;
}

export function translateTemplateError(e: unknown, file: string, what: string, node?: string, phase: 'syntax' | 'render' = 'syntax'): KilnError {
  const cause = rootCause(e);
  const origin = macroOrigin(cause, e);
  if (cause instanceof KilnError) {
    if (cause.location) return cause;
    const err = e as NunjucksError;
    const line = err.lineno !== undefined ? err.lineno + (phase === 'render' ? 1 : 0) : undefined;
    return new KilnError(cause.kind, cause.message, { location: { file, line }, hint: joinHints(origin, cause.hint), node: node ?? cause.node, cause: cause });
  }
  const err = e as NunjucksError;
  const message = String(err?.message ?? e);
  const fromMessage = /\[Line (\d+), Column (\d+)\]/.exec(message);
  let line: number | undefined;
  let column: number | undefined;
  if (err && typeof err.lineno === 'number') {
    line = err.lineno + (phase === 'render' ? 1 : 0);
    column = typeof err.colno === 'number' ? err.colno + (phase === 'render' ? 1 : 0) : undefined;
  } else if (fromMessage) {
    line = Number(fromMessage[1]);
    column = Number(fromMessage[2]);
  }
  const msg = cleanMessage(cause instanceof Error && cause !== e ? cause.message : message);
  return new KilnError('compile', `Jinja error in ${what}: ${msg}`, {
    location: { file, line, column },
    hint: joinHints(origin, hintFor(msg)),
    node,
  });
}
