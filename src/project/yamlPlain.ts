/**
 * Reading YAML straight into plain values, about ten times faster than building the `yaml` package's
 * document (0.1 s against 1 s for the 2.4 MB of schema YAML of a 10,000-model project). It uses js-yaml
 * with a schema that resolves plain scalars exactly as the `yaml` package's YAML 1.2 core schema does, so
 * both give the same values; YamlFile builds the positioned document only when it must point at a line.
 *
 * @example
 *   readPlainYaml('a: 0x1F\nb: [on, true]')   // { value: { a: 31, b: ['on', true] } }
 *   readPlainYaml('a: [')                      // undefined: let the `yaml` package say what is wrong
 */
import yaml from 'js-yaml';

/** A plain scalar's type: the pattern of the `yaml` package's core schema, and its value. */
function scalar(tag: string, test: RegExp, value: (text: string) => unknown): yaml.Type {
  return new yaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (text: string | null) => test.test(text ?? ''),
    construct: (text: string | null) => value(text ?? ''),
  });
}

// Keep in step with node_modules/yaml/dist/schema/core/*.js and common/null.js.
const CORE_LIKE_SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (t) => t[0] === 't' || t[0] === 'T'),
    scalar('int', /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/, (t) =>
      t.startsWith('0o') ? parseInt(t.slice(2), 8) : t.startsWith('0x') ? parseInt(t.slice(2), 16) : parseInt(t, 10)),
    scalar('float', /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/, (t) =>
      t.slice(-3).toLowerCase() === 'nan' ? NaN : t.slice(-3).toLowerCase() === 'inf' ? (t[0] === '-' ? -Infinity : Infinity) : parseFloat(t)),
  ],
});

/**
 * Keys the two libraries name differently: collections as keys (`? [a, b]`, and `{{ x }}` written unquoted,
 * a map inside a map) and null keys (`~: x`). Rare in project YAML, except unquoted Jinja, which is a
 * mistake that the `yaml` package's reading reports better. Quoted Jinja (`'{{ doc("x") }}'`) does not
 * match. The test is loose: a file it matches is only read more slowly.
 */
const NAMED_DIFFERENTLY = /^\s*(?:\?|~\s*:)|[{,]\s*~\s*:|(?:^|[-:[,{])[ \t]*\{[ \t]*[[{]/m;

/**
 * The plain value of a one-document YAML text (null for an empty one), or undefined when js-yaml refuses it
 * (a syntax error, a duplicate key, an unknown tag, an undefined alias …): the caller then reads it with the
 * `yaml` package, which reports the problem with its position, or accepts what js-yaml is stricter about.
 */
export function readPlainYaml(text: string): { value: unknown } | undefined {
  // A %YAML 1.1 directive changes what the `yaml` package reads (yes/no are booleans).
  if (NAMED_DIFFERENTLY.test(text) || /^%/m.test(text)) return undefined;
  try {
    return { value: yaml.load(text, { schema: CORE_LIKE_SCHEMA }) ?? null };
  } catch {
    return undefined;
  }
}
