/**
 * Data test nodes: generic tests declared in schema YAML (`not_null`, `accepted_values: {values: […]}`,
 * `dbt_utils.expression_is_true`, …) and singular tests (`.sql` files in test-paths). Names, unique ids and
 * fqns are formed exactly as dbt forms them, so run_results and selectors read the same in both tools.
 */
import { hash } from 'node:crypto';
import { KilnError, type SourceLocation } from '../errors.js';
import type { Project } from '../project/loadProject.js';
import type { NodeConfig } from '../project/nodeConfig.js';
import type { ColumnSpec } from '../project/schemaYaml.js';
import type { TestMetadata } from '../project/nodes.js';
import { isPlainObject } from '../project/yamlFile.js';

/** Keys of a test entry that are configs, not arguments of the test macro (dbt's list). */
export const TEST_CONFIG_ARGS = ['severity', 'tags', 'enabled', 'where', 'limit', 'warn_if', 'error_if', 'fail_calc',
  'store_failures', 'store_failures_as', 'sql_header', 'meta', 'database', 'schema', 'alias'];

/** Defaults every data test starts from (dbt's TestConfig). */
export const TEST_DEFAULTS: NodeConfig = {
  enabled: true, materialized: 'test', severity: 'ERROR', store_failures: null, store_failures_as: null, where: null,
  limit: null, fail_calc: 'count(*)', warn_if: '!= 0', error_if: '!= 0', tags: [], meta: {}, schema: 'dbt_test__audit',
  database: null, alias: null,
};

/** What a test is declared on. */
export interface TestTarget {
  kind: 'models' | 'seeds' | 'snapshots' | 'sources';
  /** Model/seed/snapshot name, or the source table's name. */
  name: string;
  sourceName?: string;
  version?: string | number;
  packageName: string;
  /** The YAML file (as messages name it) and its folders under the resource path (for the fqn). */
  yamlFile: string;
  folders: string[];
  /** Seeds: whether columns are quoted by default (quote_columns). */
  quoteColumns?: boolean;
}

/** A generic test, ready to become a node: its names, the Jinja that calls the test macro, its YAML configs. */
export interface GenericTestDecl {
  uniqueId: string;
  /** Full name (unique id and fqn): `accepted_values_orders_status__placed__shipped`. */
  name: string;
  /** File and alias name: the full name, or a truncated name plus a hash when it is 64 characters or more. */
  shortName: string;
  fqn: string[];
  /** Jinja calling the test macro; the same text for every test of one shape (values come from templateArgs). */
  rawCode: string;
  /** `__kiln_test` while the template renders: the arguments and what is tested. */
  templateArgs: Record<string, unknown>;
  metadata: TestMetadata;
  config: NodeConfig;
  description: string;
  columnName?: string;
  fileKeyName: string;
  location: SourceLocation;
}

const TEST_NAME = /^(?:([A-Za-z_][0-9A-Za-z_]*)\.)?([A-Za-z_][0-9A-Za-z_]*)$/;
const LOOKS_LIKE_CALL = /^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$/s;

const PLAIN_REPR = /^[\x20-\x5b\x5d-\x7e]*$/;

/**
 * Python's repr() of str/list/dict, as dbt hashes test metadata with it: single quotes unless the text
 * has a single quote and no double quote.
 */
export function pyRepr(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isPlainObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  const s = typeof v === 'string' ? v : pyStr(v);
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  // Printable ASCII without the quote or a backslash (nearly every name and argument) is written as it is.
  if (PLAIN_REPR.test(s) && !s.includes(quote)) return `${quote}${s}${quote}`;
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${quote}${out}${quote}`;
}

/** Python's str() of a YAML scalar or collection. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return pyRepr(v);
}

const md5 = (s: string) => hash('md5', s, 'hex');

/** dbt's hashable form of test metadata: dict keys sorted, every scalar as str(). */
function hashable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(hashable);
  if (isPlainObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, hashable(v[k])]));
  return pyStr(v);
}

/** The full and the short (file/alias) name of a generic test, from its type, target and arguments. */
export function synthesizeTestNames(testType: string, targetName: string, args: Record<string, unknown>): { full: string; short: string } {
  const flat: string[] = [];
  for (const key of Object.keys(args).sort()) {
    if (key === 'model') continue;
    const value = args[key];
    const parts = isPlainObject(value) ? Object.values(value) : Array.isArray(value) ? value : [value];
    flat.push(...parts.map(pyStr));
  }
  const unique = flat.map((a) => a.replace(/[^0-9a-zA-Z_]+/g, '_')).join('__');
  const identifier = `${testType}_${targetName}`;
  const full = `${identifier}_${unique}`;
  return { full, short: full.length >= 64 ? `${identifier.slice(0, 30)}_${md5(full)}` : full };
}

/** Whether an argument holds a Jinja expression (`ref('x')`, `{{ var('y') }}`), anywhere inside it. */
function containsExpression(value: unknown, key?: string): boolean {
  if (typeof value === 'string') return key !== 'column_name' && (LOOKS_LIKE_CALL.test(value) || /^\s*\{\{[\s\S]*\}\}\s*$/.test(value));
  if (Array.isArray(value)) return value.some((v) => containsExpression(v));
  if (isPlainObject(value)) return Object.values(value).some((v) => containsExpression(v));
  return false;
}

/** A test argument as a Jinja expression: strings that look like ref()/source()/var() calls stay calls. */
function jinjaExpression(value: unknown, key?: string): string {
  if (typeof value === 'string') {
    if (key !== 'column_name') {
      if (LOOKS_LIKE_CALL.test(value)) return value.trim();
      const whole = /^\s*\{\{([\s\S]*)\}\}\s*$/.exec(value);
      if (whole && !whole[1].includes('}}')) return `(${whole[1].trim()})`;
    }
    return JSON.stringify(value);
  }
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => jinjaExpression(v)).join(', ')}]`;
  if (isPlainObject(value)) return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${jinjaExpression(v)}`).join(', ')}}`;
  return JSON.stringify(String(value));
}

function fail(message: string, location: SourceLocation, hint: string): never {
  throw new KilnError('config', message, { location, hint });
}

/**
 * Turn one test entry of a schema YAML file into a generic test declaration. `entry` is as written:
 * `not_null`, `{unique: {config: {severity: warn}}}`, `{relationships: {arguments: {to: ref('x'), field: id}}}`,
 * or `{test_name: unique, name: custom}`.
 */
export function declareGenericTest(
  entry: unknown, target: TestTarget, column: ColumnSpec | undefined, projectName: string, location: SourceLocation,
): GenericTestDecl {
  const what = column ? `a test on column '${column.name}' of '${target.name}'` : `a test on '${target.name}'`;
  const shape = 'Write a test as a name (`- not_null`) or a mapping with one key (`- accepted_values: {values: [a, b]}`).';
  let testName: unknown;
  let rawArgs: unknown;
  if (typeof entry === 'string') {
    testName = entry;
    rawArgs = {};
  } else if (isPlainObject(entry)) {
    if ('test_name' in entry) {
      testName = entry.test_name;
      rawArgs = Object.fromEntries(Object.entries(entry).filter(([k]) => k !== 'test_name'));
    } else {
      const keys = Object.keys(entry);
      if (keys.length !== 1) fail(`${what} has ${keys.length} keys (${keys.join(', ')}); a test entry names one test`, location, shape);
      testName = keys[0];
      rawArgs = entry[keys[0]] ?? {};
    }
  } else {
    fail(`${what} is neither a test name nor a mapping`, location, shape);
  }
  if (typeof testName !== 'string') fail(`${what} has a test name that is not text`, location, shape);
  const match = TEST_NAME.exec(testName);
  if (!match) fail(`'${testName}' is not a valid test name`, location, 'A test name is a macro name, optionally with its package: `unique` or `dbt_utils.expression_is_true`.');
  if (!isPlainObject(rawArgs)) fail(`the arguments of test '${testName}' must be a mapping`, location, shape);
  const [, namespace, name] = match;

  // A copy: the declaration rewrites it. Most tests are written as a bare name (no arguments).
  const args: Record<string, unknown> = Object.keys(rawArgs).length === 0 ? {} : structuredClone(rawArgs);
  if ('model' in args) fail(`test '${testName}' sets an argument called 'model'`, location, "'model' is the tested relation and is set by Kiln; rename the argument.");
  if (column) args.column_name = column.quote || (column.quote === undefined && target.quoteColumns) ? `"${column.name.replace(/"/g, '""')}"` : column.name;
  // dbt 1.10's form: macro arguments under `arguments:`, configs beside them.
  if (isPlainObject(args.arguments)) {
    Object.assign(args, args.arguments);
    delete args.arguments;
  }
  if (args.config !== undefined && !isPlainObject(args.config)) fail(`the config of test '${testName}' must be a mapping`, location, 'Write `config: {severity: warn}`.');
  const block = (args.config as Record<string, unknown> | undefined) ?? {};
  const config: NodeConfig = {};
  for (const key of TEST_CONFIG_ARGS) {
    if (key in args && key in block) fail(`test '${testName}' sets '${key}' both beside and inside config:`, location, `Keep the one inside config:.`);
    const value = key in args ? args[key] : block[key];
    delete args[key];
    if (value !== undefined && value !== null) config[key] = value;
  }
  for (const [k, v] of Object.entries(block)) if (!TEST_CONFIG_ARGS.includes(k)) config[k] = v;
  delete args.config;
  const description = typeof args.description === 'string' ? args.description : '';
  delete args.description;
  const customName = typeof args.name === 'string' ? args.name : undefined;
  delete args.name;

  const testType = `${namespace ? `${namespace}_` : ''}${target.kind === 'sources' ? 'source_' : ''}${name}`;
  const targetName = target.kind === 'sources'
    ? `${target.sourceName}_${target.name}`
    : target.version !== undefined ? `${target.name}_v${String(target.version)}` : target.name;
  const names = customName ? { full: customName, short: customName } : synthesizeTestNames(testType, targetName, args);
  if (names.short !== names.full && config.alias === undefined) config.alias = names.short;

  const relation = target.kind === 'sources'
    ? `source('${target.sourceName}', '${target.name}')`
    : target.version !== undefined ? `ref('${target.name}', version='${String(target.version)}')` : `ref('${target.name}')`;
  args.model = `{{ get_where_subquery(${relation}) }}`;
  const metadata: TestMetadata = { name, namespace: namespace ?? null, kwargs: args };
  const hash = md5(names.full + pyRepr(hashable({ namespace: metadata.namespace, name, kwargs: args }))).slice(-10);

  // The macro call: `model` filters by the test's `where` config; arguments written as ref()/source() calls
  // stay expressions; plain values come from the node's kwargs at render time. The template text is thus
  // the same for every test of one shape (all not_null column tests), and compiles once.
  const targetRef = target.kind === 'sources'
    ? 'source(__kiln_test.source, __kiln_test.name)'
    : target.version !== undefined ? 'ref(__kiln_test.name, version=__kiln_test.version)' : 'ref(__kiln_test.name)';
  // Values go by position (`values` or `items` as a mapping key would read as a dict method in Jinja).
  const values: unknown[] = [];
  const call = Object.entries(args)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => {
      if (k === 'model') return `model=get_where_subquery(${targetRef})`;
      if (containsExpression(v, k)) return `${k}=${jinjaExpression(v, k)}`;
      values.push(v);
      return `${k}=__kiln_test.args[${values.length - 1}]`;
    })
    .join(', ');
  const macro = `${namespace ? `${namespace}.` : ''}test_${name}`;
  return {
    uniqueId: `test.${projectName}.${names.full}.${hash}`,
    name: names.full,
    shortName: names.short,
    fqn: [projectName, ...target.folders, names.full],
    rawCode: `{{ ${macro}(${call}) }}`,
    templateArgs: { args: values, name: target.name, version: target.version ?? null, source: target.sourceName ?? null },
    metadata,
    config,
    description,
    columnName: column ? (args.column_name as string) : undefined,
    fileKeyName: `${target.kind}.${target.kind === 'sources' ? target.sourceName : target.name}`,
    location,
  };
}

/** A data test about to become a node (generic or singular). */
export interface DeclaredTest {
  uniqueId: string;
  name: string;
  packageName: string;
  /** Generic: `<short name>.sql` (the compiled file's name under the YAML path); singular: the file's path. */
  path: string;
  originalFilePath: string;
  fqn: string[];
  description: string;
  rawCode: string;
  templateArgs?: Record<string, unknown>;
  config: NodeConfig;
  tags: string[];
  metadata?: TestMetadata;
  columnName?: string;
  fileKeyName?: string;
  location?: SourceLocation;
}

/** Folders of a schema YAML file under its resource path (`models/staging/x.yml` → `['staging']`). */
function yamlFolders(file: string, isRootPackage: boolean): string[] {
  const parts = file.split('/');
  // A package's files are named from the root project (dbt_packages/<pkg>/models/…).
  const inPackage = isRootPackage ? parts : parts.slice(2);
  return inPackage.slice(1, -1);
}

/**
 * Every data test of a project: generic tests from each model, seed, snapshot and source table's YAML (on the
 * entry and on its columns; once per version of a versioned model), then singular tests. `attachedTo` says
 * what each generic test is declared on, so the parser can drop tests whose target is disabled.
 */
export function declareTests(
  project: Project,
  versionedFiles: ReadonlyMap<string, { name: string; version: string | number; patchKey: string }>,
): { generic: DeclaredTest[]; singular: DeclaredTest[]; attachedTo: Map<string, TestTarget> } {
  const generic: DeclaredTest[] = [];
  const attachedTo = new Map<string, TestTarget>();
  const add = (target: TestTarget, entry: unknown, column: ColumnSpec | undefined, location: SourceLocation) => {
    const d = declareGenericTest(entry, target, column, target.packageName, location);
    attachedTo.set(d.uniqueId, target);
    generic.push({
      uniqueId: d.uniqueId, name: d.name, packageName: target.packageName, path: `${d.shortName}.sql`, originalFilePath: target.yamlFile,
      fqn: d.fqn, description: d.description, rawCode: d.rawCode, templateArgs: d.templateArgs, config: d.config, tags: column?.tags ?? [], metadata: d.metadata,
      columnName: d.columnName, fileKeyName: d.fileKeyName, location,
    });
  };
  const addAll = (target: TestTarget, tests: unknown[], testLocations: SourceLocation[], columns: ColumnSpec[]) => {
    for (const column of columns) column.tests.forEach((t, i) => add(target, t, column, column.testLocations?.[i] ?? { file: target.yamlFile }));
    tests.forEach((t, i) => add(target, t, undefined, testLocations?.[i] ?? { file: target.yamlFile }));
  };

  for (const [key, patch] of project.patches) {
    if (patch.resourceType === 'analyses') continue;
    const packageName = key.split(':')[1];
    const base: TestTarget = {
      kind: patch.resourceType, name: patch.name, packageName, yamlFile: patch.file,
      folders: yamlFolders(patch.file, packageName === project.name),
      quoteColumns: patch.resourceType === 'seeds' ? patch.config.quote_columns === true : false,
    };
    const versions = [...versionedFiles.values()].filter((v) => v.patchKey === key).map((v) => v.version);
    if (versions.length === 0) addAll(base, patch.tests, patch.testLocations, patch.columns);
    else for (const version of versions) addAll({ ...base, version }, patch.tests, patch.testLocations, patch.columns);
  }
  for (const src of project.sources) {
    const target: TestTarget = {
      kind: 'sources', name: src.name, sourceName: src.sourceName, packageName: src.packageName, yamlFile: src.file,
      folders: src.folders,
    };
    addAll(target, src.tests, src.testLocations, src.columns);
  }
  const singular = project.singularTests.map((f): DeclaredTest => ({
    uniqueId: `test.${f.packageName}.${f.name}`, name: f.name, packageName: f.packageName, path: f.relPath, originalFilePath: f.path,
    fqn: f.fqn, description: '', rawCode: f.content, config: {}, tags: [],
  }));
  return { generic, singular, attachedTo };
}
