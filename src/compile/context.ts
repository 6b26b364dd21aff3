/**
 * The template context of one node: ref, source, config, var, this, target, adapter, run_query … with
 * dbt's meaning in each of the two phases. In the parse phase (execute=false) nothing touches the
 * warehouse: calls are recorded and relations are placeholders. In the execute phase relations are real
 * and warehouse calls go through the AsyncBridge.
 */
import { createHash } from 'node:crypto';
import type { Adapter, Connection, QueryResult } from '../adapter.js';
import { KilnError } from '../errors.js';
import { mergeConfig, normalizeConfigKey, type NodeConfig } from '../project/nodeConfig.js';
import type { RefCall, ResolvedRelation } from '../project/nodes.js';
import type { Vars } from '../project/vars.js';
import type { AsyncBridge } from './asyncBridge.js';
import { insideMacro, MacroReturn, pyStr, splitArgs } from './jinja.js';
import { BUILTIN_PACKAGE, type MacroRegistry } from './macros.js';
import { pythonModules } from './modules.js';
import { PLACEHOLDER_INSPECT, placeholderToken, type Placeholder } from './placeholders.js';
import { Relation, type RelationRenderer, type RelationType } from './relation.js';
import type { RelationCache } from './relationCache.js';
import { AgateTable } from './agate.js';
import { Column } from './column.js';
import { KILN_VERSION } from '../version.js';
import { readEnv } from '../project/envReads.js';

/** The `target` variable: the profile target's fields minus secrets, plus name/type/schema/database. */
export type TargetContext = Record<string, unknown> & { name: string; type: string; schema: string; database?: string };

export interface LogSink {
  (level: 'info' | 'debug' | 'warn', message: string, node?: string): void;
}

/** What every render shares: the invocation's services. */
export interface SharedServices {
  vars: Vars;
  target: TargetContext;
  macros: MacroRegistry;
  projectName: string;
  invocationId: string;
  runStartedAt: Date;
  log: LogSink;
  flags: Record<string, unknown>;
  /** The `graph` variable (nodes, sources), built lazily. */
  graph: () => unknown;
  adapterType: string;
  /** Execute phase only. */
  adapter?: Adapter;
  relations?: RelationCache;
  renderer?: RelationRenderer;
  env: NodeJS.ProcessEnv;
  fullRefresh: boolean;
}

/** The node being rendered. */
export interface NodeIdentity {
  uniqueId: string;
  name: string;
  resourceType: string;
  packageName: string;
  file: string;
  fqn: string[];
  rawCode: string;
  /** Config before this file's config() calls: defaults < project tree < schema YAML. */
  baseConfig: NodeConfig;
  /** Execute phase: the node's relation and its parents' relations. */
  relation?: ResolvedRelation;
  /** Extra variables for this render (on-run-end's `results`, `schemas`). */
  extra?: Record<string, unknown>;
  /**
   * The connection the node is being built on. Warehouse calls in its hooks then share the node's session
   * (temp tables, SET) and never wait for a second pooled connection (a deadlock with one thread).
   */
  connection?: Connection;
  /** Values that replace what the template would otherwise see (a unit test's `overrides:`). */
  overrides?: RenderOverrides;
  /** The raw code is a template many nodes share (generic tests): compile it once, keyed by its text. */
  sharedTemplate?: boolean;
  /** A microbatch model's current batch (`model.batch` in templates). */
  batch?: { id: string; event_time_start: string; event_time_end: string };
}

/**
 * A unit test's `overrides:` for one render: `var()` and `env_var()` answer from `vars`/`envVars` first;
 * each `macros` entry (`is_incremental`, `current_timestamp`, `dbt_utils.current_timestamp` …) replaces that
 * macro or context function with one returning the given value.
 */
export interface RenderOverrides {
  vars?: Record<string, unknown>;
  envVars?: Record<string, unknown>;
  macros?: Record<string, unknown>;
}

export interface ExecuteResolvers {
  ref(call: RefCall): Relation;
  source(sourceName: string, tableName: string): Relation;
  /** `{{ this }}` in the execute phase, when it is not the node's own relation (a unit test's fixture). */
  this?(): Relation;
}

/**
 * The flags, and the invocation's id and start time, by the names a render records reading them under
 * (RenderRecord.flagsRead): what caches compare before reusing a render.
 */
export function invocationValues(shared: Pick<SharedServices, 'flags' | 'invocationId' | 'runStartedAt'>, threads?: number): Record<string, unknown> {
  return { ...shared.flags, invocation_id: shared.invocationId, run_started_at: shared.runStartedAt.toISOString(), [TARGET_THREADS]: threads ?? null };
}

/** The name a read of `target` is recorded under (as if a flag): its thread count varies with --threads. */
export const TARGET_THREADS = 'target.threads';

/** What a render records about the node. */
export interface RenderRecord {
  refs: RefCall[];
  sources: [string, string][];
  configCalls: NodeConfig;
  placeholders: Placeholder[];
  /** Set when the SQL may change at execute time, so compile must render again. */
  needsExecuteRender: boolean;
  varsRead: Set<string>;
  envRead: Set<string>;
  /** The template (or a macro it called) read `target`, so a different target may change its SQL. */
  targetRead: boolean;
  /**
   * The `flags` it read (`flags.STORE_FAILURES` …), and `invocation_id` / `run_started_at` when read while
   * parsing: another command's flags, or another invocation, may change what it renders.
   */
  flagsRead: Set<string>;
  /** `{% call statement('name') %}` results by name (execute phase). */
  statements: Map<string, { response: QueryResult; table: AgateTable }>;
  sqlHeader?: string;
  /**
   * The template read the node's config (config.get, `this`, is_incremental(), `model`, `schema`,
   * `database`), so its render depends on the base config and not only on the config() calls it made.
   */
  configRead: boolean;
  /** It logged (log, print, exceptions.warn): the render has an effect besides its output. */
  logged: boolean;
}

/**
 * A config value a template may change (`config.get('tags').append(…)`) as its own copy: configs share
 * their lists and maps with the project's defaults and with other nodes' configs, so a change in place
 * would reach every node (dbt gives each node its own config). Scalars are returned as they are.
 */
function ownCopy<T>(value: T): T {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/** `flags`: each flag a template reads is recorded (another command's flags may change what it renders). */
function flagsVariable(shared: SharedServices, record: RenderRecord): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(shared.flags)) {
    Object.defineProperty(flags, key, {
      enumerable: true,
      get: () => {
        record.flagsRead.add(key);
        return shared.flags[key];
      },
    });
  }
  return flags;
}

export function newRecord(): RenderRecord {
  return {
    refs: [], sources: [], configCalls: {}, placeholders: [], needsExecuteRender: false,
    varsRead: new Set(), envRead: new Set(), targetRead: false, flagsRead: new Set(), statements: new Map(), configRead: false, logged: false,
  };
}

/** A relation during parse: prints as a placeholder token; inspecting it asks for an execute-time render. */
function placeholderRelation(token: string, guess: ResolvedRelation, record: RenderRecord): object {
  const inspect = () => {
    record.needsExecuteRender = true;
  };
  const metadata = { type: 'KilnRelation' };
  // Accessors written in the literal (not defined one by one): 60,000 refs at 10,000 models made this the
  // costliest function of a parse render.
  const self: Record<string | symbol, unknown> = {
    [PLACEHOLDER_INSPECT]: inspect,
    toString: () => token,
    render: () => token,
    include: () => self,
    quote: () => self,
    incorporate: () => self,
    without_identifier: () => self,
    get: (key: string, fallback: unknown = null) => (inspect(), key === 'metadata' ? { type: 'KilnRelation' } : fallback),
    get database() { return inspect(), guess.database; },
    get schema() { return inspect(), guess.schema; },
    get identifier() { return inspect(), guess.identifier; },
    get name() { return inspect(), guess.identifier; },
    get table() { return inspect(), guess.identifier; },
    get type() { return inspect(), null; },
    get is_table() { return inspect(), false; },
    get is_view() { return inspect(), false; },
    get is_cte() { return inspect(), false; },
    get metadata() { return inspect(), metadata; },
  };
  return self;
}

/**
 * Build the context object for one render. `phase` decides the meaning of execute-sensitive names.
 */
export function buildContext(
  shared: SharedServices,
  node: NodeIdentity,
  record: RenderRecord,
  phase: 'parse' | 'execute',
  bridge: AsyncBridge,
  resolvers?: ExecuteResolvers,
): Record<string, unknown> {
  const execute = phase === 'execute';
  const pkg = node.packageName;
  const currentConfig = (): NodeConfig => {
    record.configRead = true;
    return mergeConfig(node.baseConfig, record.configCalls);
  };

  const addPlaceholder = (p: Placeholder) => {
    record.placeholders.push(p);
    return placeholderToken(record.placeholders.length - 1);
  };

  const ref = (...args: unknown[]) => {
    const [pos, kw] = splitArgs(args);
    const strs = pos.filter((p) => typeof p === 'string') as string[];
    if (strs.length === 0 || strs.length > 2) {
      throw new KilnError('compile', `ref() takes a model name, or a package and a model name; got ${JSON.stringify(pos)}`, {
        hint: "Write {{ ref('model_name') }} or {{ ref('package', 'model_name') }}.",
      });
    }
    const [packageName, name] = strs.length === 2 ? strs : [undefined, strs[0]];
    const version = (kw.version ?? kw.v) as string | number | undefined;
    const call: RefCall = { name, package: packageName, version };
    if (!execute) {
      if (!record.refs.some((r) => r.name === name && r.package === packageName && r.version === version)) record.refs.push(call);
      return placeholderRelation(addPlaceholder({ kind: 'ref', ref: call }), { schema: shared.target.schema, identifier: name, database: shared.target.database }, record);
    }
    return resolvers!.ref(call);
  };

  const source = (sourceName: unknown, tableName: unknown) => {
    if (typeof sourceName !== 'string' || typeof tableName !== 'string') {
      throw new KilnError('compile', 'source() takes a source name and a table name', {
        hint: "Write {{ source('source_name', 'table_name') }}.",
      });
    }
    if (!execute) {
      if (!record.sources.some(([s, t]) => s === sourceName && t === tableName)) record.sources.push([sourceName, tableName]);
      return placeholderRelation(addPlaceholder({ kind: 'source', source: sourceName, table: tableName }), { schema: sourceName, identifier: tableName }, record);
    }
    return resolvers!.source(sourceName, tableName);
  };

  const config = Object.assign(
    (...args: unknown[]) => {
      const [pos, kw] = splitArgs(args);
      const values: NodeConfig = {};
      for (const p of pos) if (p && typeof p === 'object') Object.assign(values, p);
      Object.assign(values, kw);
      const normalized: NodeConfig = {};
      for (const [k, v] of Object.entries(values)) normalized[normalizeConfigKey(k)] = v;
      record.configCalls = mergeConfig(record.configCalls, normalized);
      return '';
    },
    {
      get: (name: string, fallback: unknown = null) => {
        const v = ownCopy(currentConfig()[normalizeConfigKey(name)]);
        return v === undefined || v === null ? fallback : v;
      },
      require: (name: string) => {
        const v = ownCopy(currentConfig()[normalizeConfigKey(name)]);
        if (v === undefined || v === null) {
          throw new KilnError('compile', `config '${name}' is required for ${node.resourceType} '${node.name}' but is not set`, {
            hint: `Set it with {{ config(${name}=...) }} or in YAML.`,
          });
        }
        return v;
      },
      set: (name: string, value: unknown) => {
        record.configCalls = mergeConfig(record.configCalls, { [normalizeConfigKey(name)]: value });
        return '';
      },
      persist_relation_docs: () => !!(currentConfig().persist_docs as Record<string, unknown> | undefined)?.relation,
      persist_column_docs: () => !!(currentConfig().persist_docs as Record<string, unknown> | undefined)?.columns,
    },
  );

  const overrides = node.overrides;
  const varOverrides = overrides?.vars ?? {};
  const envOverrides = overrides?.envVars ?? {};
  const varFn = Object.assign(
    (name: string, ...rest: unknown[]) => {
      record.varsRead.add(name);
      if (Object.prototype.hasOwnProperty.call(varOverrides, name)) return varOverrides[name];
      return shared.vars.get(name, pkg, rest[0], rest.length > 0);
    },
    { has_var: (name: string) => Object.prototype.hasOwnProperty.call(varOverrides, name) || shared.vars.has(name, pkg) },
  );

  const envVar = (name: string, ...rest: unknown[]) => {
    // Secrets stay in profiles.yml: in a model, macro or hook their value would be written into compiled SQL,
    // target/run and manifest.json (dbt refuses them there too).
    if (/^(DBT|KILN)_ENV_SECRET_/.test(name)) {
      throw new KilnError('compile', `env_var('${name}') is a secret, which only profiles.yml may read`, {
        hint: 'Use it in profiles.yml (a password, a token); models, macros and hooks must not contain secrets, since their SQL is written to target/.',
      });
    }
    record.envRead.add(name);
    if (Object.prototype.hasOwnProperty.call(envOverrides, name)) {
      const o = envOverrides[name];
      return o === null || o === undefined ? '' : String(o);
    }
    const v = readEnv(shared.env, name);
    if (v !== undefined) return v;
    if (rest.length > 0 && rest[0] !== undefined) return rest[0];
    throw new KilnError('compile', `environment variable '${name}' is not set and env_var() was given no default`, {
      hint: `Set ${name} in the environment, or pass a default: env_var('${name}', 'value').`,
    });
  };

  const thisRelation = () => {
    if (execute && resolvers?.this) return resolvers.this();
    if (!execute || !node.relation) {
      return placeholderRelation(addPlaceholder({ kind: 'this' }), { schema: shared.target.schema, identifier: node.name, database: shared.target.database }, record);
    }
    const type: RelationType = currentConfig().materialized === 'view' ? 'view' : 'table';
    return Relation.of(node.relation, type, shared.renderer!);
  };

  // Before the warehouse is open (parse), names are quoted the ANSI way.
  const quote = (name: string) => (shared.renderer ? shared.renderer.quoteIdentifier(name) : `"${name.replace(/"/g, '""')}"`);
  const renderer: RelationRenderer = shared.renderer ?? {
    quoteIdentifier: quote,
    renderRelation: (r) => [r.database, r.schema, r.identifier].filter(Boolean).map((p) => quote(String(p))).join('.'),
  };

  const withConn = <T>(fn: (c: Connection) => Promise<T>): Promise<T> =>
    node.connection ? fn(node.connection) : shared.adapter!.withConnection(fn);

  const needsWarehouse = <T>(label: string, work: () => Promise<T>, whenParsing: T): T => {
    if (!execute) {
      record.needsExecuteRender = true;
      return whenParsing;
    }
    if (!shared.adapter) {
      throw new KilnError('compile', `${label} needs a warehouse connection, which this command does not open`);
    }
    return bridge.call(label, work);
  };

  const runQuery = (sql: unknown) =>
    needsWarehouse('run_query', async () => {
      const res = await withConn((c) => c.execute(String(sql)));
      return new AgateTable(res);
    }, null);

  const statement = (...args: unknown[]) => {
    const [pos, kw] = splitArgs(args);
    const name = String(pos[0] ?? kw.name ?? 'main');
    const caller = kw.caller as (() => unknown) | undefined;
    const sql = caller ? String(caller()) : '';
    if (!execute) {
      record.needsExecuteRender = true;
      return '';
    }
    const fetch = !!(pos[1] ?? kw.fetch_result);
    const res = needsWarehouse(`statement:${name}`, () => withConn((c) => c.execute(sql)), null);
    if (res) record.statements.set(name, { response: res, table: new AgateTable(fetch ? res : { ...res, rows: [] }) });
    return '';
  };

  const loadResult = (name: string) => {
    const r = record.statements.get(name);
    if (!r) return null;
    return {
      response: { _message: r.response.message, code: r.response.message, rows_affected: r.response.rowsAffected ?? -1 },
      table: r.table,
      data: r.table.rows,
    };
  };

  const getRelation = (...args: unknown[]) => {
    const [pos, kw] = splitArgs(args);
    const database = (kw.database ?? pos[0]) as string | undefined;
    const schema = String(kw.schema ?? pos[1]);
    const identifier = String(kw.identifier ?? pos[2]);
    return needsWarehouse(`get_relation:${database}.${schema}.${identifier}`, async () => {
      const info = await shared.relations!.get({ database: database ?? undefined, schema, identifier }, node.connection);
      return info ? new Relation(info.database, info.schema, info.identifier, info.kind === 'dynamic_table' ? 'table' : info.kind, shared.renderer!) : null;
    }, null);
  };

  /** The warehouse's answer for a relation given as an object (load_relation, is_incremental()). */
  const loadRelation = (relation: { database?: string; schema: string; identifier: string } | null) =>
    relation ? getRelation({ __keywords: true, database: relation.database, schema: relation.schema, identifier: relation.identifier }) : null;

  const getColumns = (relation: { database?: string; schema: string; identifier: string }) =>
    needsWarehouse(`get_columns:${String(relation)}`, async () => {
      const cols = await withConn((c) =>
        shared.adapter!.getColumns(c, { database: relation.database, schema: relation.schema, identifier: relation.identifier }));
      return cols.map((c) => new Column(c.name, c.dataType, (n) => shared.adapter!.quoteIdentifier(n)));
    }, []);

  const isIncremental = () => {
    const cfg = currentConfig();
    if (cfg.materialized !== 'incremental') return false;
    if (!execute) {
      record.needsExecuteRender = true;
      return false;
    }
    const fullRefresh = cfg.full_refresh === undefined || cfg.full_refresh === null ? shared.fullRefresh : !!cfg.full_refresh;
    if (fullRefresh || !node.relation) return false;
    const existing = loadRelation(node.relation) as Relation | null;
    return !!existing && existing.type === 'table';
  };

  const adapter = {
    quote: (s: string) => quote(String(s)),
    dispatch: (...args: unknown[]) => {
      const [pos, kw] = splitArgs(args);
      // `packages=[…]` is the pre-1.0 way to give a search order.
      const packages = Array.isArray(kw.packages) ? kw.packages.map(String) : undefined;
      return shared.macros.dispatch(String(pos[0] ?? kw.macro_name), (pos[1] ?? kw.macro_namespace) as string | undefined, packages);
    },
    get_relation: getRelation,
    get_columns_in_relation: getColumns,
    type: () => shared.adapterType,
    already_exists: (schema: string, identifier: string) => !!getRelation(shared.target.database, schema, identifier),
    check_schema_exists: (database: string, schema: string) =>
      needsWarehouse(`schema_exists:${database}.${schema}`, async () => (await shared.relations!.list(database, schema, node.connection)).length > 0, false),
    list_relations_without_caching: (rel: { database?: string; schema: string }) =>
      needsWarehouse(`list:${rel.database}.${rel.schema}`, async () => new AgateTable({
        columns: [{ name: 'database', dataType: 'text' }, { name: 'schema', dataType: 'text' }, { name: 'name', dataType: 'text' }, { name: 'type', dataType: 'text' }],
        rows: (await shared.relations!.list(rel.database, rel.schema, node.connection)).map((r) => ({ database: r.database, schema: r.schema, name: r.identifier, type: r.kind })),
        message: 'OK',
      }), null),
    drop_relation: (relation: { database?: string; schema: string; identifier: string }) =>
      needsWarehouse(`drop_relation:${relation.database}.${relation.schema}.${relation.identifier}`, async () => {
        const rel = { database: relation.database, schema: relation.schema, identifier: relation.identifier };
        const info = await shared.relations!.get(rel, node.connection);
        if (!info) return '';
        await withConn((c) => c.execute(shared.adapter!.ddl.dropRelation(rel, info.kind)));
        await shared.relations!.dropped(rel);
        return '';
      }, ''),
    quote_as_configured: (s: string) => s,
    quote_seed_column: (column: string, quoteConfig: unknown) =>
      quoteConfig === false ? column : quote(column),
    config: { credentials: shared.target },
  };

  const logLine = (level: 'info' | 'debug' | 'warn', msg: unknown) => {
    record.logged = true;
    bridge.once(() => shared.log(level, pyStr(msg), node.uniqueId));
    return '';
  };
  const log = (msg: unknown, info: unknown = false) => logLine(info ? 'info' : 'debug', msg);

  const relationRead = () => {
    record.configRead = true;
    if (!execute) record.needsExecuteRender = true;
  };
  const invocationRead = (name: string) => {
    if (!execute) {
      record.needsExecuteRender = true;
      record.flagsRead.add(name);
    }
  };
  const ctx: Record<string, unknown> = {
    ref,
    source,
    config,
    var: varFn,
    env_var: envVar,
    project_name: shared.projectName,
    is_incremental: isIncremental,
    adapter,
    run_query: runQuery,
    statement,
    load_result: loadResult,
    load_cached_relation: loadRelation,
    set_strict: (v: unknown[]) => [...new Set(v)],
    zip_strict: (...arrs: unknown[][]) => {
      if (new Set(arrs.map((a) => a.length)).size > 1) throw new KilnError('compile', 'zip_strict: the lists differ in length');
      return arrs[0]?.map((_, i) => arrs.map((a) => a[i])) ?? [];
    },
    try_or_compiler_error: (message: unknown, fn: (...a: unknown[]) => unknown, ...args: unknown[]) => {
      try {
        return fn(...args);
      } catch {
        throw new KilnError('compile', String(message), { node: node.uniqueId });
      }
    },
    local_md5: (s: unknown) => createHash('md5').update(String(s)).digest('hex'),
    load_relation: loadRelation,
    log,
    print: (msg: unknown) => logLine('info', msg),
    exceptions: {
      raise_compiler_error: (msg: unknown) => {
        throw new KilnError('compile', String(msg), { node: node.uniqueId });
      },
      warn: (msg: unknown) => logLine('warn', msg),
      raise_not_implemented: (msg: unknown) => {
        throw new KilnError('compile', `not implemented: ${String(msg)}`, { node: node.uniqueId });
      },
    },
    return: (value: unknown) => {
      if (!insideMacro()) {
        throw new KilnError('compile', 'return() can only be used inside a {% macro %}', {
          hint: 'In a model, write the SQL itself; return() hands a value back from a macro to its caller.',
        });
      }
      throw new MacroReturn(value);
    },
    builtins: { ref, source, config, var: varFn },
    api: {
      Column: {
        translate_type: (t: string) => t,
        create: (name: string, dtype: string) => new Column(name, dtype, quote),
      },
      Relation: {
        create: (...args: unknown[]) => {
          const [, kw] = splitArgs(args);
          return new Relation(kw.database as string | undefined, String(kw.schema ?? ''), String(kw.identifier ?? ''),
            (kw.type as RelationType) ?? null, renderer);
        },
      },
    },
    selected_resources: [],
    dbt_version: '1.8.0',
    kiln_version: KILN_VERSION,
    set_sql_header: (...args: unknown[]) => {
      const [, kw] = splitArgs(args);
      const caller = kw.caller as (() => unknown) | undefined;
      record.sqlHeader = caller ? String(caller()) : '';
      return '';
    },
    doc: (name: string) => `{{ doc('${name}') }}`,
    flags: flagsVariable(shared, record),
    // Accessors written in the literal: defining them one by one after it cost more than the rest of the
    // context (10 per render, 30,000 renders at 10,000 models).
    get target() {
      record.targetRead = true;
      // target.threads is part of what it read: the parse snapshot keys --threads only for such renders.
      record.flagsRead.add(TARGET_THREADS);
      return shared.target;
    },
    get execute() {
      if (!execute) record.needsExecuteRender = true;
      return execute;
    },
    // `modules.datetime.datetime.now()` and the like: what the parse rendered is not what a later compile
    // would, so such SQL is rendered again at execute time (as dbt renders every model when it compiles).
    get modules() {
      if (!execute) record.needsExecuteRender = true;
      return pythonModules;
    },
    // What differs from one invocation to the next: reads of the invocation's id and start time are
    // recorded as if flags (see invocationValues), so the parse cache and snapshot keep a render only while
    // they are the same (an alias built from run_started_at). SQL that prints them renders again at execute.
    get invocation_id() {
      invocationRead('invocation_id');
      return shared.invocationId;
    },
    get run_started_at() {
      invocationRead('run_started_at');
      return shared.runStartedAt;
    },
    get this() {
      return thisRelation();
    },
    get graph() {
      record.needsExecuteRender = true;
      return shared.graph();
    },
    get model() {
      record.needsExecuteRender = true;
      const cfg = ownCopy(currentConfig());
      return {
        unique_id: node.uniqueId, name: node.name, resource_type: node.resourceType, package_name: node.packageName,
        original_file_path: node.file, fqn: node.fqn, config: cfg, tags: cfg.tags ?? [], raw_code: node.rawCode,
        raw_sql: node.rawCode, alias: node.relation?.identifier ?? node.name, schema: node.relation?.schema, database: node.relation?.database,
        batch: node.batch ?? null,
      };
    },
    // The node's own schema and database: known once its config is final, so a parse render (which sees
    // the target's) marks the template to be rendered again at compile time, as `this.schema` does.
    get schema() {
      relationRead();
      return node.relation?.schema ?? shared.target.schema;
    },
    get database() {
      relationRead();
      return node.relation?.database ?? shared.target.database;
    },
  };
  if (node.extra) {
    // The accessors above win over the extra variables (as when they were defined after them).
    for (const [key, value] of Object.entries(node.extra)) if (!Object.getOwnPropertyDescriptor(ctx, key)?.get && key !== 'flags') ctx[key] = value;
  }
  if (overrides?.macros) applyMacroOverrides(ctx, shared.macros, overrides.macros);
  return ctx;
}

/**
 * Replace macros (and context functions such as is_incremental) by functions returning fixed values. A
 * name is looked up in the context before the macro globals, by templates and by macro bodies alike, so
 * an entry on the context wins everywhere. `pkg.name` replaces the macro inside the package's namespace
 * (`dbt_utils.current_timestamp()`; `dbt.` is Kiln's built-in package).
 */
function applyMacroOverrides(ctx: Record<string, unknown>, macros: MacroRegistry, values: Record<string, unknown>): void {
  const byNamespace = new Map<string, Map<string, unknown>>();
  for (const [key, value] of Object.entries(values)) {
    const dot = key.lastIndexOf('.');
    if (dot < 0) {
      // A variable (invocation_id, run_started_at) is replaced by the value; a function by one returning it.
      const d = Object.getOwnPropertyDescriptor(ctx, key);
      const variable = d !== undefined && (d.get !== undefined || (d.value !== undefined && typeof d.value !== 'function'));
      Object.defineProperty(ctx, key, { value: variable ? value : () => value, writable: true, enumerable: true, configurable: true });
      continue;
    }
    const ns = key.slice(0, dot);
    const m = byNamespace.get(ns) ?? new Map<string, unknown>();
    m.set(key.slice(dot + 1), value);
    byNamespace.set(ns, m);
  }
  for (const [ns, replaced] of byNamespace) {
    const pkg = ns === 'dbt' ? BUILTIN_PACKAGE : ns;
    const original = ctx[ns] as Record<string, unknown> | undefined;
    ctx[ns] = new Proxy({}, {
      get: (_t, k) => {
        if (typeof k !== 'string') return undefined;
        if (replaced.has(k)) return () => replaced.get(k);
        return original && k in original ? original[k] : macros.get(k, pkg);
      },
      has: (_t, k) => typeof k === 'string' && (replaced.has(k) || (original !== undefined && k in original) || macros.has(k)),
    });
  }
}
