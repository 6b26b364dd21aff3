/**
 * Relation placeholders. The parse render cannot know the final name of `ref('orders')` (orders' own
 * config may set its schema or alias), so it writes a token; once every node is parsed, tokens are
 * replaced by rendered names. A node whose template only prints relations compiles with no second render
 * — the common case, and why cold compile is one render per model.
 */
import type { Placeholder } from '../project/nodes.js';

export type { Placeholder };

/**
 * Set on placeholder relation objects: calling it asks for an execute-time render. Filters call it, since
 * `{{ ref('a') | upper }}` would otherwise transform the token instead of the relation's name.
 */
export const PLACEHOLDER_INSPECT = Symbol('kiln.placeholder.inspect');

const START = '\u0002';
const END = '\u0003';
const TOKEN = /\u0002(\d+)\u0003/g;

export function placeholderToken(index: number): string {
  return `${START}${index}${END}`;
}

export function hasPlaceholders(sql: string): boolean {
  return sql.includes(START);
}

/** Replace each token by `resolve(placeholder)`; throws what `resolve` throws. */
export function substitutePlaceholders(sql: string, placeholders: readonly Placeholder[], resolve: (p: Placeholder) => string): string {
  return sql.replace(TOKEN, (_m, i: string) => resolve(placeholders[Number(i)]));
}
