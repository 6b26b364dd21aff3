/**
 * Node selection as dbt users type it: `--select 'tag:nightly+ staging.orders,config.materialized:table'`,
 * `--exclude`, and YAML selectors (selectors.yml) with `--selector`.
 *
 * Grammar of one criterion: [@][N+]method:value[+N], where the method defaults to fqn/name, or path when
 * the value looks like a path. Space separates a union, a comma an intersection.
 */
import { KilnError, type SourceLocation } from '../errors.js';
import type { GraphNode } from '../project/nodes.js';
import { isPlainObject, type YamlFile } from '../project/yamlFile.js';
import { didYouMean } from '../suggest.js';
import type { ProjectGraph } from './dag.js';

export interface Criterion {
  method: string;
  value: string;
  parents: boolean;
  parentsDepth?: number;
  children: boolean;
  childrenDepth?: number;
  /** `@x`: x, its descendants, and all ancestors of those descendants. */
  childrensParents: boolean;
}

export type SelectionSpec =
  | { kind: 'criterion'; criterion: Criterion }
  | { kind: 'union'; items: SelectionSpec[] }
  | { kind: 'intersection'; items: SelectionSpec[] }
  | { kind: 'difference'; include: SelectionSpec; exclude: SelectionSpec };

export const METHODS = ['fqn', 'tag', 'path', 'file', 'config', 'resource_type', 'source', 'package', 'test_type', 'test_name', 'selector', 'unique_id'];

const CRITERION = /^(@)?((\d*)\+)?([^+]*?)(\+(\d*))?$/;

/** Parse one criterion such as `2+tag:nightly+1` or `@orders`. */
export function parseCriterion(text: string): Criterion {
  const m = CRITERION.exec(text.trim());
  if (!m || !m[4]) {
    throw new KilnError('usage', `cannot read the selector '${text}'`, {
      hint: 'Selectors look like model_name, +model, model+, 2+model, tag:x, path:models/staging, config.materialized:table.',
    });
  }
  const [, at, parentOp, parentDepth, body, childOp, childDepth] = m;
  // dbt: the '@' prefix and a '+' suffix are incompatible ('@' already takes all descendants); '@+x' is allowed.
  if (at && childOp) throw new KilnError('usage', `'@' and a trailing '+' cannot be combined in '${text}'`);
  let method: string;
  let value: string;
  const colon = body.indexOf(':');
  if (colon > 0 && !/^[A-Za-z]:[\\/]/.test(body)) {
    method = body.slice(0, colon);
    value = body.slice(colon + 1);
  } else {
    value = body;
    // As dbt: a path if it has a folder separator, a file name if it ends in .sql/.py/.csv, else an fqn.
    method = value.includes('/') || value.includes('\\') ? 'path' : /\.(sql|py|csv)$/i.test(value) ? 'file' : 'fqn';
  }
  const base = method.split('.')[0];
  if (!METHODS.includes(base)) {
    throw new KilnError('usage', `unknown selection method '${base}' in '${text}'`, {
      hint: didYouMean(base, METHODS) ?? `Methods: ${METHODS.join(', ')}.`,
    });
  }
  return {
    method,
    value,
    parents: !!parentOp,
    parentsDepth: parentDepth ? Number(parentDepth) : undefined,
    children: !!childOp,
    childrenDepth: childDepth ? Number(childDepth) : undefined,
    childrensParents: !!at,
  };
}

/** `--select a b,c` (already split by the shell into args; each arg may also contain spaces). */
export function parseSelectArgs(args: readonly string[]): SelectionSpec | undefined {
  const words = args.flatMap((a) => a.split(/\s+/)).filter((w) => w !== '');
  if (words.length === 0) return undefined;
  return {
    kind: 'union',
    items: words.map((w) => {
      const parts = w.split(',').filter((p) => p !== '');
      return parts.length === 1
        ? { kind: 'criterion', criterion: parseCriterion(parts[0]) }
        : { kind: 'intersection', items: parts.map((p) => ({ kind: 'criterion', criterion: parseCriterion(p) }) as SelectionSpec) };
    }),
  };
}

function globToRegex(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.').replace(/\[!/g, '[^');
  return new RegExp(`^${re}$`);
}

function partMatches(pattern: string, value: string): boolean {
  return /[*?[]/.test(pattern) ? globToRegex(pattern).test(value) : pattern === value;
}

/** dbt's fqn match: the leaf name, or a dotted prefix of the fqn, with or without the package. */
function fqnMatches(fqn: readonly string[], selector: string): boolean {
  const tryOne = (f: readonly string[]) => {
    if (f.length && partMatches(selector, f[f.length - 1])) return true;
    const flat = f.flatMap((s) => s.split('.'));
    const parts = selector.split('.');
    if (flat.length < parts.length) return false;
    for (let i = 0; i < parts.length; i++) {
      // From the first part with a wildcard on, the rest of the selector globs the rest of the fqn.
      if (/[*?[\]]/.test(parts[i])) return globToRegex(parts.slice(i).join('.')).test(flat.slice(i).join('.'));
      if (parts[i] !== flat[i]) return false;
    }
    return true;
  };
  return tryOne(fqn) || tryOne(fqn.slice(1));
}

function configValueMatches(actual: unknown, wanted: string): boolean {
  if (Array.isArray(actual)) return actual.some((a) => configValueMatches(a, wanted));
  if (actual === null || actual === undefined) return wanted === 'none' || wanted === 'None' || wanted === 'null';
  if (typeof actual === 'boolean') return String(actual) === wanted.toLowerCase();
  return partMatches(wanted, String(actual));
}

/** A path glob as Python's Path.glob reads it (dbt's path method): `*`, `?` and `[..]` stay within one
 * folder, a `**` segment spans any number of folders; a match on a folder selects everything under it. */
function pathGlobToRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    const wholeSegment = (i === 0 || glob[i - 1] === '/') && glob[i + 1] === '*' && (i + 2 === glob.length || glob[i + 2] === '/');
    if (c === '*' && wholeSegment) {
      re += i + 2 === glob.length ? '.*' : '(?:[^/]+/)*';
      i += i + 2 === glob.length ? 1 : 2;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && glob.indexOf(']', i + 2) > i) {
      const end = glob.indexOf(']', i + 2);
      const cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      re += cls.startsWith('!') ? `[^${cls.slice(1)}]` : `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}(?:/.*)?$`);
}

function normalizePath(p: string): string {
  return p.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '');
}

/** Does `node` match the method:value part of a criterion (graph operators aside)? */
export function nodeMatches(node: GraphNode, method: string, value: string): boolean {
  const [base, ...keyParts] = method.split('.');
  switch (base) {
    case 'fqn':
      if (node.resourceType === 'source') return false; // dbt: sources are selected by source:, not by name
      if (node.resourceType === 'model' && node.version !== undefined) {
        // A versioned model answers to its name (every version), name_v1 and name.v1, and to folder paths;
        // not to the bare version segment ('v1' would select every model's first version).
        const v = String(node.version);
        if ([`${node.name}_v${v}`, `${node.name}.v${v}`].some((n) => partMatches(value, n))) return true;
        return fqnMatches(node.fqn.slice(0, -1), value);
      }
      return fqnMatches(node.fqn, value);
    case 'unique_id':
      return partMatches(value, node.uniqueId);
    case 'tag':
      return node.tags.some((t) => partMatches(value, t));
    case 'resource_type':
      return node.resourceType === value;
    case 'package':
      return partMatches(value, node.packageName);
    case 'file': {
      const file = node.originalFilePath.split('/').pop() ?? '';
      return partMatches(value, file) || partMatches(value, file.replace(/\.[^.]+$/, ''));
    }
    case 'path': {
      const p = normalizePath(value);
      const file = normalizePath(node.originalFilePath);
      if (/[*?[]/.test(p)) return pathGlobToRegex(p).test(file);
      return file === p || file.startsWith(`${p}/`);
    }
    case 'config': {
      if (keyParts.length === 0) return false;
      let actual: unknown = node.config;
      for (const k of keyParts) actual = isPlainObject(actual) ? actual[k] : undefined;
      return configValueMatches(actual, value);
    }
    case 'source': {
      if (node.resourceType !== 'source') return false;
      const parts = value.split('.');
      const full = [node.packageName, node.sourceName, node.name];
      if (parts.length === 1) return partMatches(parts[0], node.sourceName);
      if (parts.length === 2) return partMatches(parts[0], node.sourceName) && partMatches(parts[1], node.name);
      return parts.every((p, i) => partMatches(p, full[i] ?? ''));
    }
    case 'test_type': {
      // `data` is every data test, generic or singular (dbt 1.8+); `schema` is dbt's older name for generic.
      const kind = node.resourceType === 'unit_test' ? 'unit' : node.resourceType !== 'test' ? undefined : node.testMetadata ? 'generic' : 'singular';
      if (!kind) return false;
      if (value === 'data') return kind !== 'unit';
      return partMatches(value === 'schema' ? 'generic' : value, kind);
    }
    case 'test_name':
      if (node.resourceType === 'unit_test') return partMatches(value, node.name);
      if (node.resourceType !== 'test') return false;
      return partMatches(value, node.testMetadata?.name ?? node.name)
        || (node.testMetadata?.namespace ? partMatches(value, `${node.testMetadata.namespace}.${node.testMetadata.name}`) : false);
    default:
      return false;
  }
}

export interface SelectorDefinitions {
  /** Named YAML selectors, parsed. */
  named: Map<string, { spec: SelectionSpec; description?: string; default: boolean; location: SourceLocation }>;
}

export class Selector {
  constructor(
    private readonly graph: ProjectGraph,
    private readonly yamlSelectors: SelectorDefinitions = { named: new Map() },
  ) {}

  /** The unique ids a spec selects, among all nodes of the graph. */
  select(spec: SelectionSpec, stack: string[] = []): Set<string> {
    switch (spec.kind) {
      case 'union': {
        const out = new Set<string>();
        for (const item of spec.items) for (const id of this.select(item, stack)) out.add(id);
        return out;
      }
      case 'intersection': {
        const sets = spec.items.map((i) => this.select(i, stack));
        if (sets.length === 0) return new Set();
        return new Set([...sets[0]].filter((id) => sets.every((s) => s.has(id))));
      }
      case 'difference': {
        const inc = this.select(spec.include, stack);
        const exc = this.select(spec.exclude, stack);
        return new Set([...inc].filter((id) => !exc.has(id)));
      }
      case 'criterion':
        return this.selectCriterion(spec.criterion, stack);
    }
  }

  private selectCriterion(c: Criterion, stack: string[]): Set<string> {
    let base: Set<string>;
    if (c.method === 'selector') {
      if (stack.includes(c.value)) throw new KilnError('usage', `selector '${c.value}' includes itself: ${[...stack, c.value].join(' -> ')}`);
      const named = this.yamlSelectors.named.get(c.value);
      if (!named) {
        throw new KilnError('usage', `no selector named '${c.value}' in selectors.yml`, {
          hint: didYouMean(c.value, this.yamlSelectors.named.keys()) ?? `Selectors: ${[...this.yamlSelectors.named.keys()].join(', ') || '(none)'}.`,
        });
      }
      base = this.select(named.spec, [...stack, c.value]);
    } else {
      base = new Set();
      for (const node of this.graph.nodes.values()) if (nodeMatches(node, c.method, c.value)) base.add(node.uniqueId);
    }
    const out = new Set(base);
    if (c.parents) for (const id of this.graph.ancestors(base, c.parentsDepth)) out.add(id);
    if (c.children || c.childrensParents) {
      const desc = this.graph.descendants(base, c.children ? c.childrenDepth : undefined);
      for (const id of desc) out.add(id);
      if (c.childrensParents) for (const id of this.graph.ancestors(new Set([...base, ...desc]))) out.add(id);
    }
    return out;
  }
}

/** Read selectors.yml: `selectors: [{name, description, default, definition}]`. */
export function loadYamlSelectors(yaml: YamlFile | undefined): SelectorDefinitions {
  const named: SelectorDefinitions['named'] = new Map();
  if (!yaml) return { named };
  const data = yaml.data;
  if (!isPlainObject(data) || !Array.isArray(data.selectors)) {
    throw new KilnError('config', "selectors.yml must have a 'selectors:' list", { location: yaml.locate([]) });
  }
  data.selectors.forEach((entry, i) => {
    const path = ['selectors', i];
    if (!isPlainObject(entry) || typeof entry.name !== 'string') {
      throw new KilnError('config', "each selector needs a 'name' and a 'definition'", { location: yaml.locate(path) });
    }
    if (entry.definition === undefined) {
      throw new KilnError('config', `selector '${entry.name}' has no 'definition'`, { location: yaml.locate(path) });
    }
    if (named.has(entry.name)) throw new KilnError('config', `selector '${entry.name}' is defined twice`, { location: yaml.locate(path) });
    named.set(entry.name, {
      spec: parseYamlDefinition(entry.definition, yaml, [...path, 'definition']),
      description: entry.description as string | undefined,
      default: entry.default === true,
      location: yaml.locate(path),
    });
  });
  return { named };
}

function parseYamlDefinition(def: unknown, yaml: YamlFile, path: (string | number)[]): SelectionSpec {
  if (typeof def === 'string') {
    const spec = parseSelectArgs([def]);
    if (!spec) throw new KilnError('config', 'empty selector definition', { location: yaml.locate(path) });
    return spec;
  }
  if (!isPlainObject(def)) throw new KilnError('config', 'a selector definition must be a string or a mapping', { location: yaml.locate(path) });
  if (Array.isArray(def.union) || Array.isArray(def.intersection)) {
    const key = Array.isArray(def.union) ? 'union' : 'intersection';
    const list = def[key] as unknown[];
    const includes: SelectionSpec[] = [];
    const excludes: SelectionSpec[] = [];
    list.forEach((item, i) => {
      if (isPlainObject(item) && 'exclude' in item) {
        const ex = item.exclude;
        const exList = Array.isArray(ex) ? ex : [ex];
        exList.forEach((e, j) => excludes.push(parseYamlDefinition(e, yaml, [...path, key, i, 'exclude', j])));
      } else includes.push(parseYamlDefinition(item, yaml, [...path, key, i]));
    });
    const combined: SelectionSpec = { kind: key, items: includes };
    return excludes.length ? { kind: 'difference', include: combined, exclude: { kind: 'union', items: excludes } } : combined;
  }
  if (typeof def.method === 'string') {
    if (def.value === undefined) throw new KilnError('config', "a selector criterion needs a 'value'", { location: yaml.locate(path) });
    const base = def.method.split('.')[0];
    if (!METHODS.includes(base)) {
      throw new KilnError('config', `unknown selection method '${def.method}'`, { location: yaml.locate([...path, 'method']), hint: didYouMean(base, METHODS) });
    }
    if (def.childrens_parents === true && def.children === true) {
      throw new KilnError('config', "'childrens_parents' and 'children' cannot be combined", {
        location: yaml.locate(path),
        hint: "childrens_parents already selects every descendant; drop 'children'.",
      });
    }
    const criterion: SelectionSpec = {
      kind: 'criterion',
      criterion: {
        method: def.method,
        value: String(def.value),
        parents: def.parents === true,
        parentsDepth: typeof def.parents_depth === 'number' ? def.parents_depth : undefined,
        children: def.children === true,
        childrenDepth: typeof def.children_depth === 'number' ? def.children_depth : undefined,
        childrensParents: def.childrens_parents === true,
      },
    };
    if (def.exclude !== undefined) {
      const exList = Array.isArray(def.exclude) ? def.exclude : [def.exclude];
      return { kind: 'difference', include: criterion, exclude: { kind: 'union', items: exList.map((e, j) => parseYamlDefinition(e, yaml, [...path, 'exclude', j])) } };
    }
    return criterion;
  }
  // Shorthand: {tag: nightly} means method tag, value nightly.
  const keys = Object.keys(def);
  if (keys.length === 1 && METHODS.includes(keys[0].split('.')[0])) {
    return { kind: 'criterion', criterion: { method: keys[0], value: String(def[keys[0]]), parents: false, children: false, childrensParents: false } };
  }
  throw new KilnError('config', 'a selector definition needs union:, intersection:, or method: and value:', { location: yaml.locate(path) });
}

export interface SelectionRequest {
  select: readonly string[];
  exclude: readonly string[];
  selector?: string;
  /** Which tests of selected nodes join the selection (default eager). */
  indirect?: IndirectSelection;
}

export type IndirectSelection = 'eager' | 'cautious' | 'buildable' | 'empty';

/** What a test tests: a data test's parents, or a unit test's model. */
export function testedNodes(graph: ProjectGraph, id: string): string[] {
  const node = graph.node(id);
  if (node.resourceType === 'unit_test') return node.dependsOn.slice(0, 1);
  if (node.resourceType !== 'test') return [];
  return graph.parents(id).filter((p) => {
    const t = graph.node(p).resourceType;
    return t !== 'test' && t !== 'unit_test';
  });
}

/**
 * Add the tests of selected nodes (dbt's indirect selection): eager takes a test when any node it tests is
 * selected; cautious when all are; buildable when each is selected, upstream of a selected node, or a source.
 */
export function addIndirectTests(graph: ProjectGraph, selected: Set<string>, mode: IndirectSelection): void {
  if (mode === 'empty') return;
  const upstream = mode === 'buildable' ? graph.ancestors(selected) : undefined;
  for (const node of graph.nodes.values()) {
    if ((node.resourceType !== 'test' && node.resourceType !== 'unit_test') || selected.has(node.uniqueId)) continue;
    const tested = testedNodes(graph, node.uniqueId);
    if (tested.length === 0) continue;
    const take = mode === 'eager' ? tested.some((p) => selected.has(p))
      : mode === 'cautious' ? tested.every((p) => selected.has(p))
      : tested.every((p) => selected.has(p) || upstream!.has(p) || graph.node(p).resourceType === 'source');
    if (take) selected.add(node.uniqueId);
  }
}

/** Apply --select/--exclude/--selector (or the default YAML selector) and return the selected ids. */
export function selectNodes(graph: ProjectGraph, defs: SelectorDefinitions, req: SelectionRequest): Set<string> {
  const selector = new Selector(graph, defs);
  let include: SelectionSpec | undefined;
  if (req.selector) {
    if (req.select.length) throw new KilnError('usage', '--selector cannot be combined with --select', { hint: 'Use one of them.' });
    include = { kind: 'criterion', criterion: { method: 'selector', value: req.selector, parents: false, children: false, childrensParents: false } };
  } else {
    include = parseSelectArgs(req.select);
    // dbt uses the default selector only for an "unqualified" command: --exclude alone means all nodes but those.
    if (!include && parseSelectArgs(req.exclude) === undefined) {
      const defaults = [...defs.named.entries()].filter(([, d]) => d.default);
      if (defaults.length > 1) throw new KilnError('config', `more than one selector is marked default: ${defaults.map(([n]) => n).join(', ')}`);
      if (defaults.length === 1) include = defaults[0][1].spec;
    }
  }
  const selected = include ? selector.select(include) : new Set(graph.nodes.keys());
  if (include) addIndirectTests(graph, selected, req.indirect ?? 'eager');
  const exclude = parseSelectArgs(req.exclude);
  if (exclude) {
    // Excluding a model excludes its tests too (dbt applies indirect selection to --exclude as well).
    const excluded = selector.select(exclude);
    addIndirectTests(graph, excluded, req.indirect ?? 'eager');
    for (const id of excluded) selected.delete(id);
  }
  return selected;
}
