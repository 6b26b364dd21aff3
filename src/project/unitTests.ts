/**
 * dbt 1.8-style unit tests: `unit_tests:` in schema YAML. Each entry names a model, the rows its inputs
 * (`ref()`, `source()`, `this`) hold, and the rows expected out. This module reads and checks the YAML
 * (every error names file:line), reads fixture files, and makes UnitTestNodes once the model is known.
 *
 * @example
 * unit_tests:
 *   - name: counts_orders
 *     model: customers
 *     given:
 *       - input: ref('stg_orders')
 *         rows: [{customer_id: 1}, {customer_id: 1}]
 *     expect:
 *       rows: [{customer_id: 1, orders: 2}]
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { KilnError, resolveLocation, type SourceLocation } from '../errors.js';
import { closeMatches } from '../suggest.js';
import { Diagnostics, expectType, stringList } from './diagnostics.js';
import { findFiles } from './files.js';
import type { Project } from './loadProject.js';
import type { GraphNode, RefCall, SqlNode, UnitTestInput, UnitTestNode, UnitTestRows } from './nodes.js';
import { makeEnvVar, renderYamlTree, type YamlRenderContext } from './yamlRender.js';
import { isPlainObject, YamlFile, type YamlPath } from './yamlFile.js';

/** One `unit_tests:` entry, checked; unitTestNodes() turns it into nodes once the model is known. */
export interface UnitTestSpec {
  name: string;
  model: string;
  description: string;
  /** `versions: {include, exclude}` for a versioned model; all versions when absent. */
  versions?: { include?: (string | number)[]; exclude?: (string | number)[] };
  given: UnitTestInput[];
  expect: UnitTestRows;
  overrides: UnitTestNode['overrides'];
  config: { tags: string[]; meta: Record<string, unknown>; enabled: boolean };
  packageName: string;
  /** The YAML file, relative to the root project (`models/staging/schema.yml`). */
  originalFilePath: string;
  /** The YAML file relative to the resource root it is under (`staging/schema.yml`). */
  path: string;
  /** `[package, ...folders of the YAML file under its resource root]`; the model and test name follow. */
  fqnPrefix: string[];
  location: SourceLocation;
}

const TEST_KEYS = ['name', 'model', 'description', 'given', 'expect', 'overrides', 'config', 'versions'];
const GIVEN_KEYS = ['input', 'rows', 'format', 'fixture'];
const EXPECT_KEYS = ['rows', 'format', 'fixture'];
const OVERRIDE_KEYS = ['vars', 'macros', 'env_vars'];
const CONFIG_KEYS = ['tags', 'meta', 'enabled'];
const FORMATS = ['dict', 'csv', 'sql'] as const;

/** A `given:` input as written, parsed: `ref('m')`, `ref('pkg', 'm', v=2)`, `source('s', 't')`, `this`. */
export type ParsedInput = { kind: 'ref'; ref: RefCall } | { kind: 'source'; source: string; table: string } | { kind: 'this' };

/** Parse an input expression; undefined when it is none of ref(...), source(...), this. */
export function parseInput(text: string): ParsedInput | undefined {
  const t = text.trim().replace(/^\{\{\s*(.*?)\s*\}\}$/s, '$1');
  if (t === 'this') return { kind: 'this' };
  const m = /^(ref|source)\s*\((.*)\)$/s.exec(t);
  if (!m) return undefined;
  const args = splitCallArgs(m[2]);
  if (!args) return undefined;
  const strings = args.positional;
  if (m[1] === 'source') {
    if (strings.length !== 2 || Object.keys(args.keywords).length > 0 || strings.some((s) => typeof s !== 'string')) return undefined;
    return { kind: 'source', source: strings[0] as string, table: strings[1] as string };
  }
  if (strings.length < 1 || strings.length > 2 || strings.some((s) => typeof s !== 'string')) return undefined;
  const unknown = Object.keys(args.keywords).filter((k) => k !== 'v' && k !== 'version');
  if (unknown.length) return undefined;
  const version = args.keywords.v ?? args.keywords.version;
  const [pkg, name] = strings.length === 2 ? strings as string[] : [undefined, strings[0] as string];
  return { kind: 'ref', ref: { name, package: pkg, version } };
}

/** `'a', "b", v=2` → positional string/number literals and keywords; undefined for anything else. */
function splitCallArgs(text: string): { positional: (string | number)[]; keywords: Record<string, string | number> } | undefined {
  const positional: (string | number)[] = [];
  const keywords: Record<string, string | number> = {};
  const re = /\s*(?:([A-Za-z_]\w*)\s*=\s*)?(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?))\s*(,|$)/gy;
  let at = 0;
  if (text.trim() === '') return { positional, keywords };
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    const value = m[2] !== undefined ? m[2] : m[3] !== undefined ? m[3] : Number(m[4]);
    if (m[1]) keywords[m[1]] = value;
    else if (Object.keys(keywords).length) return undefined;
    else positional.push(value);
    at = re.lastIndex;
    if (m[5] === '') break;
  }
  return { positional, keywords };
}

/** How `input:` is named in messages and fixture CTEs. */
export function describeInput(input: ParsedInput): string {
  if (input.kind === 'this') return 'this';
  if (input.kind === 'source') return `source('${input.source}', '${input.table}')`;
  const r = input.ref;
  return `ref(${[r.package, r.name].filter(Boolean).map((s) => `'${s}'`).join(', ')}${r.version !== undefined ? `, v=${JSON.stringify(r.version)}` : ''})`;
}

interface FileContext {
  yaml: YamlFile;
  packageName: string;
  /** Test paths of the package, relative to the project dir (`tests`, or `dbt_packages/x/tests`). */
  testRoots: string[];
  projectDir: string;
  packageDir: string;
}

/**
 * Read every `unit_tests:` section of the project's schema YAML. `ctx` renders Jinja in values (dbt renders
 * unit test entries like the rest of schema YAML, descriptions excepted); by default var/env_var work.
 */
export function loadUnitTests(project: Project, diags: Diagnostics, ctx?: Partial<YamlRenderContext>): UnitTestSpec[] {
  const out: UnitTestSpec[] = [];
  const seen = new Map<string, UnitTestSpec>();
  const packages = [...project.packageFiles.entries()].map(([name, pf]) => ({
    name,
    prefix: name === project.name ? '' : `${dirname(pf.file)}/`,
    pf,
  })).sort((a, b) => b.prefix.length - a.prefix.length);
  for (const entry of project.schemaOther) {
    if (entry.data.unit_tests === undefined || entry.data.unit_tests === null) continue;
    const pkg = packages.find((p) => entry.file.startsWith(p.prefix)) ?? packages[packages.length - 1];
    const yaml = YamlFile.read(join(project.dir, entry.file), entry.file);
    const isRoot = pkg.name === project.name;
    const fileDiags = isRoot ? diags : new Diagnostics();
    const inPackage = entry.file.slice(pkg.prefix.length);
    const roots = [...pkg.pf.modelPaths, ...pkg.pf.seedPaths, ...pkg.pf.snapshotPaths, ...pkg.pf.analysisPaths, ...pkg.pf.macroPaths, ...pkg.pf.testPaths];
    const root = roots.filter((r) => inPackage.startsWith(`${r.replace(/\/+$/, '')}/`)).sort((a, b) => b.length - a.length)[0];
    const path = root ? inPackage.slice(root.replace(/\/+$/, '').length + 1) : inPackage.split('/').slice(1).join('/');
    const folders = path.split('/').slice(0, -1);
    const renderCtx: YamlRenderContext = {
      env_var: makeEnvVar(),
      var: (name: string, ...rest: unknown[]) => project.vars.get(name, pkg.name, rest[0], rest.length > 0),
      ...ctx,
    };
    const file: FileContext = {
      yaml, packageName: pkg.name, testRoots: pkg.pf.testPaths.map((t) => `${pkg.prefix}${t}`), projectDir: project.dir,
      packageDir: join(project.dir, pkg.prefix),
    };
    const list = yaml.data && isPlainObject(yaml.data) ? yaml.data.unit_tests : undefined;
    expectType(yaml, ['unit_tests'], list, ['list'], 'unit_tests');
    ((list as unknown[]) ?? []).forEach((raw, i) => {
      const spec = loadOne(file, fileDiags, raw, ['unit_tests', i], renderCtx);
      spec.originalFilePath = entry.file;
      spec.path = path;
      spec.fqnPrefix = [pkg.name, ...folders];
      const key = `${spec.packageName}.${spec.model}.${spec.name}`;
      const prev = seen.get(key);
      if (prev) {
        throw new KilnError('config', `unit test '${spec.name}' of model '${spec.model}' is defined twice`, {
          location: spec.location,
          hint: `It is also defined at ${prev.originalFilePath}:${resolveLocation(prev.location).line}. Rename one of them.`,
        });
      }
      seen.set(key, spec);
      out.push(spec);
    });
  }
  return out;
}

function fail(yaml: YamlFile, path: YamlPath, message: string, hint: string): never {
  throw new KilnError('config', message, { location: yaml.locate(path), hint });
}

function loadOne(file: FileContext, diags: Diagnostics, raw: unknown, path: YamlPath, ctx: YamlRenderContext): UnitTestSpec {
  const { yaml } = file;
  if (!isPlainObject(raw)) fail(yaml, path, 'each entry under unit_tests must be a mapping with name, model, given and expect', 'Write `- name: …` then `model:`, `given:` and `expect:` under it.');
  // dbt renders unit test entries as the rest of schema YAML; the description is left as written.
  const { description, ...rest } = raw;
  const e: Record<string, unknown> = { ...(renderYamlTree(rest, ctx, (p) => yaml.locate([...path, ...p])) as Record<string, unknown>), description };
  if (typeof e.name !== 'string' || !e.name) fail(yaml, path, 'a unit test has no name', 'Add `name:` with a name unique among the tests of this model.');
  const name = e.name;
  const what = `unit test '${name}'`;
  if (typeof e.model !== 'string' || !e.model) fail(yaml, [...path, 'model'], `${what} does not say which model it tests`, 'Add `model:` with the name of the model under test.');
  diags.unknownKeys(yaml, path, e, TEST_KEYS, what);
  expectType(yaml, [...path, 'description'], e.description, ['string']);
  if (e.given === undefined || e.given === null) fail(yaml, path, `${what} has no 'given:'`, "List the model's inputs under given: (`- input: ref('…')` with rows); use `given: []` for a model that reads nothing.");
  if (!Array.isArray(e.given)) fail(yaml, [...path, 'given'], `'given' of ${what} must be a list of inputs`, "Write each input as `- input: ref('…')` followed by `rows:`.");
  if (e.expect === undefined || e.expect === null) fail(yaml, path, `${what} has no 'expect:'`, 'Add `expect:` with the rows the model should return (`rows: []` for none).');

  const given = e.given.map((g, j) => loadInput(file, diags, g, [...path, 'given', j], what));
  const seenInputs = new Map<string, number>();
  given.forEach((g, j) => {
    const key = describeInput(parseInput(g.input)!);
    if (seenInputs.has(key)) fail(yaml, [...path, 'given', j], `${what} gives ${key} twice`, `Keep one entry for ${key} (the other is item ${seenInputs.get(key)! + 1} of given:).`);
    seenInputs.set(key, j);
  });
  if (!isPlainObject(e.expect)) fail(yaml, [...path, 'expect'], `'expect' of ${what} must be a mapping with rows (or fixture)`, 'Write `expect:` then `rows:` under it.');
  diags.unknownKeys(yaml, [...path, 'expect'], e.expect, EXPECT_KEYS, `${what} expect`);
  const expect = loadRows(file, e.expect, [...path, 'expect'], `${what}, expect`);
  if (expect.rows === undefined && expect.sql === undefined) {
    fail(yaml, [...path, 'expect'], `'expect' of ${what} has no rows`, 'Add `rows:` (a list of mappings; `rows: []` when the model returns nothing) or `fixture:`.');
  }

  const overrides: UnitTestNode['overrides'] = { vars: {}, macros: {}, envVars: {} };
  if (e.overrides !== undefined && e.overrides !== null) {
    expectType(yaml, [...path, 'overrides'], e.overrides, ['mapping'], 'overrides');
    const o = e.overrides as Record<string, unknown>;
    diags.unknownKeys(yaml, [...path, 'overrides'], o, OVERRIDE_KEYS, `${what} overrides`);
    for (const key of OVERRIDE_KEYS) expectType(yaml, [...path, 'overrides', key], o[key], ['mapping'], `overrides.${key}`);
    overrides.vars = (o.vars as Record<string, unknown>) ?? {};
    overrides.macros = (o.macros as Record<string, unknown>) ?? {};
    overrides.envVars = (o.env_vars as Record<string, unknown>) ?? {};
  }

  const config = { tags: [] as string[], meta: {} as Record<string, unknown>, enabled: true };
  if (e.config !== undefined && e.config !== null) {
    expectType(yaml, [...path, 'config'], e.config, ['mapping'], 'config');
    const c = e.config as Record<string, unknown>;
    diags.unknownKeys(yaml, [...path, 'config'], c, CONFIG_KEYS, `${what} config`);
    expectType(yaml, [...path, 'config', 'tags'], c.tags, ['string', 'list'], 'tags');
    expectType(yaml, [...path, 'config', 'meta'], c.meta, ['mapping'], 'meta');
    expectType(yaml, [...path, 'config', 'enabled'], c.enabled, ['boolean'], 'enabled');
    config.tags = stringList(c.tags);
    config.meta = (c.meta as Record<string, unknown>) ?? {};
    config.enabled = c.enabled !== false;
  }

  let versions: UnitTestSpec['versions'];
  if (e.versions !== undefined && e.versions !== null) {
    expectType(yaml, [...path, 'versions'], e.versions, ['mapping'], 'versions');
    const v = e.versions as Record<string, unknown>;
    diags.unknownKeys(yaml, [...path, 'versions'], v, ['include', 'exclude'], `${what} versions`);
    const list = (key: 'include' | 'exclude') => {
      const x = v[key];
      if (x === undefined || x === null) return undefined;
      return (Array.isArray(x) ? x : [x]).map((y) => (typeof y === 'number' ? y : String(y)));
    };
    versions = { include: list('include'), exclude: list('exclude') };
  }

  return {
    name, model: e.model, description: typeof e.description === 'string' ? e.description : '', versions, given, expect, overrides, config,
    packageName: file.packageName, originalFilePath: yaml.file, path: '', fqnPrefix: [], location: yaml.locate(path),
  };
}

function loadInput(file: FileContext, diags: Diagnostics, raw: unknown, path: YamlPath, what: string): UnitTestInput {
  const { yaml } = file;
  if (!isPlainObject(raw)) fail(yaml, path, `each input under 'given' of ${what} must be a mapping with input and rows`, "Write `- input: ref('…')` with `rows:` under it.");
  diags.unknownKeys(yaml, path, raw, GIVEN_KEYS, `${what} input`);
  if (typeof raw.input !== 'string' || !raw.input.trim()) {
    fail(yaml, path, `an input of ${what} does not say what it replaces`, "Add `input: ref('model')`, `input: source('source', 'table')` or `input: this`.");
  }
  if (!parseInput(raw.input)) {
    fail(yaml, [...path, 'input'], `input '${raw.input}' of ${what} is not a ref(), source() or this`,
      "Write `ref('model')`, `ref('package', 'model', v=1)`, `source('source', 'table')` or `this`.");
  }
  return { input: raw.input.trim(), ...loadRows(file, raw, path, `${what}, input ${raw.input.trim()}`) };
}

/** `rows`/`format`/`fixture` of a given input or of expect: checked, with fixture files read. */
function loadRows(file: FileContext, entry: Record<string, unknown>, path: YamlPath, what: string): UnitTestRows {
  const { yaml } = file;
  const location = yaml.locate(path);
  const format = entry.format ?? 'dict';
  if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format)) {
    fail(yaml, [...path, 'format'], `format '${String(format)}' of ${what} is not dict, csv or sql`, 'Use format: dict (rows as mappings, the default), csv (CSV text with a header) or sql (a select).');
  }
  const fmt = format as UnitTestRows['format'];
  if (entry.rows !== undefined && entry.rows !== null && entry.fixture !== undefined && entry.fixture !== null) {
    fail(yaml, [...path, 'fixture'], `${what} has both rows and a fixture`, 'Keep one: inline `rows:` or `fixture:` naming a file under tests/fixtures/.');
  }
  if (entry.fixture !== undefined && entry.fixture !== null) {
    if (typeof entry.fixture !== 'string' || !entry.fixture) fail(yaml, [...path, 'fixture'], `fixture of ${what} must be a file name`, 'Write `fixture: my_rows` for tests/fixtures/my_rows.csv.');
    if (fmt === 'dict') {
      fail(yaml, [...path, 'fixture'], `fixture files of ${what} need format: csv or format: sql`, 'Add `format: csv` (for a .csv file) or `format: sql` (for a .sql file).');
    }
    const fixture = findFixture(file, entry.fixture, fmt);
    if (!fixture) {
      const ext = fmt === 'csv' ? 'csv' : 'sql';
      fail(yaml, [...path, 'fixture'], `fixture '${entry.fixture}' of ${what} was not found: no ${entry.fixture}.${ext} under ${file.testRoots.join(', ') || 'the test paths'}`,
        `Put the file at ${file.testRoots[0] ?? 'tests'}/fixtures/${entry.fixture}.${ext} (fixtures are looked up by name under test-paths).`);
    }
    const text = readFileSync(fixture.absPath, 'utf8');
    if (fmt === 'sql') return { format: fmt, sql: text, fixture: fixture.path, location };
    return { format: fmt, rows: parseCsvRows(text, { file: fixture.path, line: 1 }, what), fixture: fixture.path, location };
  }
  const rows = entry.rows;
  if (rows === undefined || rows === null) return { format: fmt, location };
  if (fmt === 'dict') {
    if (typeof rows === 'string') {
      fail(yaml, [...path, 'rows'], `rows of ${what} must be a list of mappings (column: value), not text`, 'For CSV text add `format: csv`; for a select add `format: sql`.');
    }
    if (!Array.isArray(rows)) fail(yaml, [...path, 'rows'], `rows of ${what} must be a list of mappings (column: value)`, 'Write each row as `- {id: 1, name: a}`.');
    rows.forEach((r, k) => {
      if (!isPlainObject(r)) fail(yaml, [...path, 'rows', k], `row ${k + 1} of ${what} is not a mapping (column: value)`, 'Write each row as `- {id: 1, name: a}`.');
    });
    return { format: fmt, rows: rows as Record<string, unknown>[], location };
  }
  if (typeof rows !== 'string') {
    fail(yaml, [...path, 'rows'], `rows of ${what} must be ${fmt === 'csv' ? 'CSV text with a header line' : 'a select statement'} when format is ${fmt}`,
      fmt === 'csv' ? 'Write `rows: |` followed by the header line and one line per row.' : 'Write `rows: |` followed by the select.');
  }
  if (fmt === 'sql') {
    if (!rows.trim()) fail(yaml, [...path, 'rows'], `rows of ${what} is an empty select`, 'Write a select that lists every column of the input.');
    return { format: fmt, sql: rows, location };
  }
  const rowsAt = resolveLocation(yaml.locate([...path, 'rows']));
  // A block scalar (`rows: |`) starts on the line after its key.
  const node = yaml.doc.getIn([...path, 'rows'], true) as { type?: string } | undefined;
  const firstLine = (rowsAt.line ?? 1) + (node?.type === 'BLOCK_LITERAL' || node?.type === 'BLOCK_FOLDED' ? 1 : 0);
  return { format: fmt, rows: parseCsvRows(rows, { file: yaml.file, line: firstLine }, what), location };
}

/** CSV text with a header line → rows of strings. */
function parseCsvRows(text: string, at: { file: string; line: number }, what: string): Record<string, string>[] {
  let records: string[][];
  try {
    records = parseCsv(text, { bom: true, relax_quotes: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (e) {
    const err = e as { lines?: number; message: string };
    throw new KilnError('config', `cannot read the CSV rows of ${what}: ${err.message.replace(/^Invalid Record Length: /, '')}`, {
      location: { file: at.file, line: err.lines !== undefined ? at.line + err.lines - 1 : at.line },
      hint: 'Every line needs as many fields as the header; quote values that contain a comma.',
    });
  }
  const header = records[0]?.map((h) => h.trim());
  if (!header || header.length === 0) {
    throw new KilnError('config', `the CSV rows of ${what} have no header line`, {
      location: at, hint: 'Start the CSV with a line naming the columns (id,name), then one line per row.',
    });
  }
  const bad = header.find((h) => h === '' || /^[-+]?\d+(\.\d*)?$/.test(h) || /^(true|false|null)$/i.test(h));
  if (bad !== undefined) {
    throw new KilnError('config', `the CSV rows of ${what} have no header line: '${bad}' is not a column name`, {
      location: at, hint: 'Start the CSV with a line naming the columns (id,name), then one line per row.',
    });
  }
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h.toLowerCase())) throw new KilnError('config', `column '${h}' appears twice in the CSV header of ${what}`, { location: at });
    seen.add(h.toLowerCase());
  }
  return records.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

/** `<name>.<csv|sql>` anywhere under the package's test paths; one under a `fixtures/` folder first. */
function findFixture(file: FileContext, name: string, format: 'csv' | 'sql'): { path: string; absPath: string } | undefined {
  const ext = `.${format}`;
  const wanted = name.endsWith(ext) ? name : `${name}${ext}`;
  const files = findFiles(file.projectDir, file.testRoots, [ext]).filter((f) => basename(f.relPath) === basename(wanted)
    && (!wanted.includes('/') || f.relPath.endsWith(wanted)));
  files.sort((a, b) => Number(!a.relPath.split('/').includes('fixtures')) - Number(!b.relPath.split('/').includes('fixtures')));
  return files[0] && { path: files[0].path, absPath: files[0].absPath };
}

/** True when `input` names something `model` reads (refs and sources seen when it was parsed). */
function modelReads(model: SqlNode, input: ParsedInput): boolean {
  if (input.kind === 'this') return true;
  if (input.kind === 'source') return model.sources.some(([s, t]) => s === input.source && t === input.table);
  const want = input.ref;
  return model.refs.some((r) => r.name === want.name
    && (want.package === undefined || r.package === undefined || r.package === want.package)
    && (want.version === undefined || (r.version !== undefined && String(r.version) === String(want.version))));
}

function describeModelInputs(model: SqlNode): string {
  const all = [
    ...model.refs.map((r) => describeInput({ kind: 'ref', ref: { name: r.name, package: r.package, version: r.version } })),
    ...model.sources.map(([s, t]) => describeInput({ kind: 'source', source: s, table: t })),
  ];
  return all.length ? all.join(', ') : 'nothing (it has no ref() or source())';
}

/**
 * The nodes of one unit test: one, or one per tested version of a versioned model (ids end in `.v<n>`).
 * Throws, at the YAML line, for an unknown model and for inputs the model does not read; returns none when
 * the test or its model is disabled. `nodes` are the parsed project's nodes; `disabled` its disabled ones by name.
 */
export function unitTestNodes(
  spec: UnitTestSpec,
  nodes: ReadonlyMap<string, GraphNode>,
  opts: { disabled?: ReadonlyMap<string, GraphNode> } = {},
): UnitTestNode[] {
  if (!spec.config.enabled) return [];
  const models = [...nodes.values()].filter((n): n is SqlNode => n.resourceType === 'model' && n.name === spec.model && n.packageName === spec.packageName);
  if (models.length === 0) {
    const disabled = opts.disabled?.get(spec.model);
    if (disabled && disabled.resourceType === 'model' && disabled.packageName === spec.packageName) return [];
    const names = [...new Set([...nodes.values()].filter((n) => n.resourceType === 'model' && n.packageName === spec.packageName).map((n) => n.name))];
    const close = closeMatches(spec.model, names);
    throw new KilnError('config', `unit test '${spec.name}' is for model '${spec.model}', which is not a model in ${spec.packageName}`, {
      location: spec.location,
      hint: close.length ? `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : 'Set `model:` to the name of a model file (without .sql).',
    });
  }
  let tested = models;
  if (models.some((m) => m.version !== undefined)) {
    const has = (list: (string | number)[] | undefined, v: unknown) => list?.some((x) => String(x) === String(v));
    tested = models.filter((m) => (spec.versions?.include === undefined || has(spec.versions.include, m.version)) && !has(spec.versions?.exclude, m.version));
    for (const v of [...(spec.versions?.include ?? []), ...(spec.versions?.exclude ?? [])]) {
      if (!models.some((m) => String(m.version) === String(v))) {
        throw new KilnError('config', `unit test '${spec.name}' names version ${v} of model '${spec.model}', which has versions ${models.map((m) => m.version).join(', ')}`, {
          location: spec.location, hint: 'Change versions: include/exclude to existing versions.',
        });
      }
    }
  }
  for (const g of spec.given) checkInputExists(spec, g, nodes);
  return tested.map((model) => {
    for (const g of spec.given) {
      const input = parseInput(g.input)!;
      // A model rendered again at execute time may read more than its parse render saw (refs under
      // {% if is_incremental() %}), so only a model whose SQL is fixed at parse time is checked.
      if (!model.needsExecuteRender && !modelReads(model, input)) {
        throw new KilnError('config', `unit test '${spec.name}' gives ${describeInput(input)}, which model '${spec.model}' does not read`, {
          location: g.location ?? spec.location,
          hint: `Model '${spec.model}' reads ${describeModelInputs(model)}. Give inputs only for those.`,
        });
      }
    }
    return unitTestNode(spec, model);
  });
}

/** An input must name a model, seed, snapshot or source that exists. */
function checkInputExists(spec: UnitTestSpec, g: UnitTestInput, nodes: ReadonlyMap<string, GraphNode>): void {
  const input = parseInput(g.input)!;
  if (input.kind === 'this') return;
  const all = [...nodes.values()];
  if (input.kind === 'source') {
    if (all.some((n) => n.resourceType === 'source' && n.sourceName === input.source && n.name === input.table)) return;
    const known = all.filter((n) => n.resourceType === 'source').map((n) => `${(n as { sourceName: string }).sourceName}.${n.name}`);
    const close = closeMatches(`${input.source}.${input.table}`, known);
    throw new KilnError('config', `unit test '${spec.name}' gives ${describeInput(input)}, which is not a defined source`, {
      location: g.location ?? spec.location,
      hint: close.length ? `Did you mean ${close.map((c) => `source('${c.split('.')[0]}', '${c.split('.').slice(1).join('.')}')`).join(' or ')}?` : 'Check the source and table names under sources: in schema YAML.',
    });
  }
  const refable = all.filter((n) => n.resourceType === 'model' || n.resourceType === 'seed' || n.resourceType === 'snapshot');
  if (refable.some((n) => n.name === input.ref.name && (input.ref.package === undefined || n.packageName === input.ref.package))) return;
  const close = closeMatches(input.ref.name, [...new Set(refable.map((n) => n.name))]);
  throw new KilnError('config', `unit test '${spec.name}' gives ${describeInput(input)}, which is not a model or seed in this project`, {
    location: g.location ?? spec.location,
    hint: close.length ? `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : 'Check the name in input:.',
  });
}

/**
 * The node of a unit test for one model (or version) without checks: unique id
 * `unit_test.<package>.<model>.<name>` (`.v<n>` for a version), relation in the model's schema.
 */
export function unitTestNode(spec: UnitTestSpec, model: { uniqueId: string; version?: string | number; dependsOn?: string[]; relation: { database?: string; schema: string } } | { schema: string; database?: string }): UnitTestNode {
  const m = 'uniqueId' in model ? model : undefined;
  const version = m?.version;
  const relation = m ? m.relation : (model as { schema: string; database?: string });
  return {
    uniqueId: `unit_test.${spec.packageName}.${spec.model}.${spec.name}${version !== undefined ? `.v${String(version)}` : ''}`,
    resourceType: 'unit_test',
    name: spec.name,
    packageName: spec.packageName,
    path: spec.path,
    originalFilePath: spec.originalFilePath,
    fqn: [...spec.fqnPrefix, spec.model, spec.name],
    description: spec.description,
    columns: [],
    meta: spec.config.meta,
    tags: spec.config.tags,
    config: { enabled: spec.config.enabled, tags: spec.config.tags, meta: spec.config.meta, materialized: 'unit' },
    relation: { database: relation.database, schema: relation.schema, identifier: spec.name },
    model: spec.model,
    modelVersion: version,
    given: spec.given,
    expect: spec.expect,
    overrides: spec.overrides,
    dependsOn: m ? [...new Set([m.uniqueId, ...(m.dependsOn ?? [])])] : [],
    location: spec.location,
  };
}

/** Where a unit test's SQL is written under target/run/: `<package>/<yml path>/<name>[_v<n>].sql`. */
export function unitTestRunFile(test: UnitTestNode): string {
  const name = `${test.name}${test.modelVersion !== undefined ? `_v${String(test.modelVersion)}` : ''}.sql`;
  return join(test.packageName, test.originalFilePath, name);
}
