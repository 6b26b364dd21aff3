/**
 * The compile phase: a parsed node's SQL with real relation names, ephemeral models inlined as CTEs, and
 * a second render only for nodes whose SQL depends on execute-time state. Compiled SQL is written to
 * target/compiled/<project>/<path>.
 */
import { join } from 'node:path';
import type { Connection } from '../adapter.js';
import { KilnError } from '../errors.js';
import type { RefCall, SeedNode, SourceNode, SqlNode } from '../project/nodes.js';
import { closeMatches } from '../suggest.js';
import { CompiledIndex, sqlHash, type LastCompile } from './compiledIndex.js';
import { CompiledFileWriter } from './compiledWriter.js';
import type { ExecuteResolvers, NodeIdentity, RenderOverrides } from './context.js';
import type { ParsedProject } from './parse.js';
import { hasPlaceholders, substitutePlaceholders } from './placeholders.js';
import { workerScript } from './workerScript.js';
import { Relation, type RelationRenderer } from './relation.js';

export interface CompiledSql {
  /** The SQL to run, CTEs injected. */
  sql: string;
  /** The node's own SQL without injected CTEs (what an ephemeral contributes as its CTE body). */
  body: string;
  /** Ephemeral ancestors' CTEs in dependency order. */
  ctes: { id: string; name: string; sql: string }[];
  sqlHeader?: string;
}

/** A node's compile as NodeCompiler keeps it: with sqlHash(sql), taken once (the file check, the manifest). */
export type FinishedSql = CompiledSql & { sqlHash: string };

export const EPHEMERAL_PREFIX = '__dbt__cte__';

/**
 * A compile with some inputs replaced (a unit test's fixtures, a microbatch batch's filtered upstreams):
 * always re-rendered, overrides applied, nothing written or cached.
 */
export interface InputsCompileOptions {
  /**
   * The relation for a ref() the model makes (already resolved to `target`): a CTE name (a fixture) or a
   * Relation; undefined for the usual relation (an ephemeral one is then inlined as usual).
   */
  ref(call: RefCall, target: SqlNode | SeedNode): string | Relation | undefined;
  /** The same for source(); undefined for the source's real relation. */
  source(sourceName: string, tableName: string, target: SourceNode): string | Relation | undefined;
  /** `{{ this }}`: a CTE name or Relation; the model's own relation when absent. */
  this?: string | Relation;
  /** CTEs put first in the compiled SQL (the fixtures), in this order. */
  ctes: readonly { name: string; sql: string }[];
  overrides?: RenderOverrides;
  /** is_incremental() answers this (dbt: false in a unit test unless `overrides.macros.is_incremental`). */
  isIncremental?: boolean;
  /** The session execute-time queries of the template run on. */
  connection?: Connection;
  /** A microbatch batch (`model.batch`). */
  batch?: NodeIdentity['batch'];
}

/** A node's compiled file under target/compiled/<package>/: generic tests go under their YAML file's path, as in dbt. */
export function compiledFileOf(node: { originalFilePath: string; path?: string }): string {
  // Generic tests and YAML-defined snapshots live in a YAML file: their SQL goes in a folder named after it.
  return /\.ya?ml$/.test(node.originalFilePath) ? `${node.originalFilePath}/${node.path}` : node.originalFilePath;
}

/** Skip leading whitespace and SQL comments; return the index of the first real token. */
function firstTokenIndex(sql: string): number {
  let i = 0;
  for (;;) {
    while (i < sql.length && /\s/.test(sql[i])) i++;
    if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else return i;
  }
}

/** Put CTEs first: merged into the model's own WITH when it has one, else as a new WITH. */
export function injectCtes(sql: string, ctes: readonly { name: string; sql: string }[]): string {
  if (ctes.length === 0) return sql;
  const defs = ctes.map((c) => `${c.name} as (\n${c.sql.trim()}\n)`).join(', ');
  const at = firstTokenIndex(sql);
  const withMatch = /^with(\s+recursive)?\b/i.exec(sql.slice(at));
  if (withMatch) {
    const after = at + withMatch[0].length;
    return `${sql.slice(0, at)}${withMatch[0]} ${defs},${sql.slice(after)}`;
  }
  return `${sql.slice(0, at)}with ${defs}\n${sql.slice(at)}`;
}

export class NodeCompiler {
  private readonly done = new Map<string, Promise<FinishedSql>>();
  /** Finished compilations, readable synchronously (for the manifest). */
  readonly finished = new Map<string, FinishedSql>();

  constructor(
    private readonly parsed: ParsedProject,
    private readonly renderer: RelationRenderer,
    /** Absolute target/compiled/ directory, or undefined to write nothing. */
    private readonly compiledDir: string | undefined,
    /** How the compiled directory is named in messages (relative to the project). */
    private readonly compiledDisplayDir = 'target/compiled',
    /** Skip files the compiled-file index vouches for (off with --no-partial-parse: every file is written). */
    private readonly useIndex = true,
  ) {}

  private index?: CompiledIndex;
  private readonly writer = new CompiledFileWriter(workerScript('compiledWriterWorker.js'));
  /** Content hash of each queued file, recorded in the index once it is written. */
  private readonly queuedHashes = new Map<string, string>();

  /**
   * Queue a compiled file unless it already holds this SQL; returns the SQL's hash. An unchanged file is
   * the common case (re-runs): the index of what was written last time answers it without reading the
   * file. New files go to the CompiledFileWriter, which writes them on its own thread once there are many,
   * while this thread goes on compiling and saving artifacts (flush() waits for them).
   */
  private writeCompiled(file: string, sql: string): string {
    const hash = sqlHash(sql);
    // Without the index's vouching (--no-partial-parse) every file is written, and still recorded: the
    // next run's index must know what is in the file now.
    const index = this.openIndex();
    if (this.useIndex && index.holds(file, hash)) return hash;
    // A file the index knows is replaced by a rename, which changes its folder's stat: an index restored
    // from elsewhere (a CI cache of target/) then cannot vouch for a file rewritten since.
    this.writer.add({ file, sql, replace: index.knows(file) });
    this.queuedHashes.set(file, hash);
    return hash;
  }

  private openIndex(): CompiledIndex {
    return (this.index ??= CompiledIndex.open(join(this.compiledDir!, '..', 'kiln_compiled_index.json')));
  }

  /**
   * Whether the last recorded `kiln compile`, made under the same key (of the parse and the selection; see
   * the compile command), still stands: its compiled files are as it left them, and the nodes it rendered
   * at compile time, compiled again now, come out the same. The other nodes' SQL follows from the parse
   * alone. Returns the key of the manifest that compile wrote, or undefined.
   */
  async previousCompile(key: string): Promise<string | undefined> {
    if (!this.compiledDir || !this.useIndex) return undefined;
    const last = this.openIndex().lastCompile(key);
    if (!last || !Array.isArray(last.rendered)) return undefined;
    for (const [id, hash] of last.rendered) {
      const node = this.parsed.nodes.get(id) as SqlNode | undefined;
      if (!node) return undefined;
      try {
        const c = await this.compile(node);
        if (c.sqlHash !== hash) return undefined;
      } catch {
        return undefined; // compiled again by the caller, which reports the error
      }
    }
    return last.manifestKey;
  }

  /** What recordCompile needs beyond the keys: the SQL hash of each node this compile rendered. */
  renderedHashes(): [string, string][] {
    const out: [string, string][] = [];
    for (const [id, c] of this.finished) {
      const node = this.parsed.nodes.get(id) as SqlNode | undefined;
      if (node?.needsExecuteRender) out.push([id, c.sqlHash]);
    }
    return out;
  }

  /**
   * Wait until every compiled file is written and save the index; throws the first write error. With
   * `compile`, this was a whole `kiln compile`, recorded for previousCompile() once its files are written.
   */
  async flush(compile?: LastCompile): Promise<void> {
    const { written, error } = await this.writer.finish();
    for (const [file, size, mtimeMs] of written) this.index!.written(file, this.queuedHashes.get(file)!, { size, mtimeMs });
    this.queuedHashes.clear();
    if (compile && !error && this.compiledDir && this.useIndex) this.openIndex().recordCompile(compile);
    this.index?.save();
    if (error) {
      throw new KilnError('runtime', `could not write compiled SQL under ${this.compiledDisplayDir}: ${error}`, {
        hint: 'Check that the target directory is writable and the disk is not full.',
      });
    }
  }

  /** Where a node's compiled SQL is written, as messages name it. */
  compiledPathFor(node: { packageName: string; originalFilePath: string; path?: string }): string {
    return `${this.compiledDisplayDir}/${node.packageName}/${compiledFileOf(node)}`;
  }

  /** Find the node a ref names, or explain (with close names) why there is none. */
  resolveRefNode(call: RefCall, from: SqlNode): SqlNode | SeedNode {
    const target = this.parsed.lookupRef(call, from.packageName);
    if (target) return target;
    throw unknownRefError(this.parsed, call, from);
  }

  relationFor(node: SqlNode | SeedNode): Relation {
    if (node.resourceType !== 'seed' && node.config.materialized === 'ephemeral') {
      return new Relation(undefined, '', `${EPHEMERAL_PREFIX}${node.name}`, 'cte', this.renderer);
    }
    const type = node.resourceType === 'seed' || node.config.materialized !== 'view' ? 'table' : 'view';
    return Relation.of(node.relation, type, this.renderer);
  }

  /** relationFor(node).render(), once per node: a model is ref()-ed by many (each of its tests, too). */
  private readonly renderedNames = new Map<string, string>();
  private renderedName(node: SqlNode | SeedNode): string {
    let name = this.renderedNames.get(node.uniqueId);
    if (name === undefined) this.renderedNames.set(node.uniqueId, (name = this.relationFor(node).render()));
    return name;
  }

  private sourceRelation(from: SqlNode, sourceName: string, table: string): Relation {
    const src = this.parsed.lookupSource(sourceName, table, from.packageName);
    if (!src) throw unknownSourceError(this.parsed, from, sourceName, table);
    return Relation.of(src.relation, 'table', this.renderer);
  }

  /** ref()/source() for an execute-time render on behalf of `from` (hooks, inline SQL, re-renders). */
  resolversFor(from: SqlNode): ExecuteResolvers {
    return {
      ref: (call) => this.relationFor(this.resolveRefNode(call, from)),
      source: (s, t) => this.sourceRelation(from, s, t),
    };
  }

  /**
   * Compile a node once (later calls share the result). `connection`, when the node is about to be built on
   * it, is the session its execute-time queries run on, so session state (temp tables, SET) carries over.
   */
  compile(node: SqlNode, connection?: Connection): Promise<FinishedSql> {
    let p = this.done.get(node.uniqueId);
    if (!p) {
      p = this.compileOnce(node, true, connection);
      this.done.set(node.uniqueId, p);
    }
    return p;
  }

  /**
   * Compile free-standing SQL (`kiln show --inline`, `kiln compile --inline`) as an anonymous model of the
   * root project: ref/source/macros resolve and ephemeral models are inlined; nothing is written.
   */
  compileInline(sql: string, projectName: string, relation: { schema: string; identifier: string; database?: string }): Promise<CompiledSql> {
    const node = {
      uniqueId: `sql_operation.${projectName}.inline_query`, name: 'inline_query', resourceType: 'model', packageName: projectName,
      path: 'inline_query.sql', originalFilePath: '(inline)', fqn: [projectName, 'inline_query'], config: { materialized: 'view' },
      rawCode: sql, relation, refs: [], sources: [], macros: [], dependsOn: [], parsedSql: '', placeholders: [], needsExecuteRender: true,
      description: '', columns: [], meta: {}, tags: [], checksum: '',
    } satisfies SqlNode;
    return this.compileOnce(node, false);
  }

  /**
   * Compile a model for a unit test: always rendered again (execute phase) with `opts`' relations and
   * overrides; fixture CTEs first, then the ephemeral models still read. Not cached, nothing is written.
   */
  async compileWithInputs(node: SqlNode, opts: InputsCompileOptions): Promise<CompiledSql> {
    const ephemerals: SqlNode[] = [];
    const asRelation = (r: string | Relation) => (typeof r === 'string' ? new Relation(undefined, '', r, 'cte', this.renderer) : r);
    const resolvers: ExecuteResolvers = {
      ref: (call) => {
        const target = this.resolveRefNode(call, node);
        const given = opts.ref(call, target);
        if (given !== undefined) return asRelation(given);
        if (target.resourceType === 'model' && target.config.materialized === 'ephemeral' && !ephemerals.includes(target)) ephemerals.push(target);
        return this.relationFor(target);
      },
      source: (s, t) => {
        const src = this.parsed.lookupSource(s, t, node.packageName);
        if (!src) throw unknownSourceError(this.parsed, node, s, t);
        const given = opts.source(s, t, src);
        return given !== undefined ? asRelation(given) : Relation.of(src.relation, 'table', this.renderer);
      },
      ...(opts.this !== undefined ? { this: () => asRelation(opts.this!) } : {}),
    };
    const macros: Record<string, unknown> = { is_incremental: opts.isIncremental ?? false, ...(opts.overrides?.macros ?? {}) };
    const identity = { ...this.parsed.identityOf(node), connection: opts.connection, overrides: { ...opts.overrides, macros }, batch: opts.batch };
    const out = await this.parsed.renderer.renderExecute(identity, resolvers);
    let body = out.sql;
    if (hasPlaceholders(body)) body = body.replace(/[\u0002\u0003]/g, '');
    const ctes: CompiledSql['ctes'] = opts.ctes.map((c) => ({ id: `fixture:${c.name}`, name: c.name, sql: c.sql }));
    for (const eph of ephemerals) {
      const sub = await this.compile(eph, opts.connection);
      for (const c of [...sub.ctes, { id: eph.uniqueId, name: `${EPHEMERAL_PREFIX}${eph.name}`, sql: sub.body }]) {
        if (!ctes.some((x) => x.id === c.id || x.name === c.name)) ctes.push(c);
      }
    }
    const configured = typeof node.config.sql_header === 'string' ? node.config.sql_header : undefined;
    const sqlHeader = [configured, out.record.sqlHeader ?? node.sqlHeader].filter((h) => h && h.trim()).join(';\n') || undefined;
    return { sql: injectCtes(body, ctes), body, ctes, sqlHeader };
  }

  private async compileOnce(node: SqlNode, write: boolean, connection?: Connection): Promise<FinishedSql> {
    const ephemerals: SqlNode[] = [];
    const noteEphemeral = (n: SqlNode | SeedNode) => {
      if (n.resourceType === 'model' && n.config.materialized === 'ephemeral' && !ephemerals.includes(n)) ephemerals.push(n);
    };
    let body: string;
    let sqlHeader: string | undefined = node.sqlHeader;
    if (!node.needsExecuteRender) {
      body = substitutePlaceholders(node.parsedSql, node.placeholders, (p) => {
        if (p.kind === 'this') return this.renderedName(node);
        if (p.kind === 'source') return this.sourceRelation(node, p.source, p.table).render();
        const target = this.resolveRefNode(p.ref, node);
        noteEphemeral(target);
        return this.renderedName(target);
      });
    } else {
      const resolvers: ExecuteResolvers = {
        ref: (call) => {
          const target = this.resolveRefNode(call, node);
          // A ref() seen only at execute time (inside {% if execute %}) is not in the DAG: the model could
          // have run before what it reads. dbt refuses this too, with the same remedy.
          if (node.originalFilePath !== '(inline)' && !node.dependsOn.includes(target.uniqueId)) {
            throw new KilnError('graph', `${node.resourceType} '${node.name}' refers to '${target.name}' only at execute time, so Kiln cannot order it after '${target.name}'`, {
              location: { file: node.originalFilePath },
              node: node.uniqueId,
              hint: `Add this line to the top of ${node.originalFilePath}:\n    -- depends_on: {{ ref('${target.name}') }}`,
            });
          }
          noteEphemeral(target);
          return this.relationFor(target);
        },
        source: (s, t) => this.sourceRelation(node, s, t),
      };
      const out = await this.parsed.renderer.renderExecute({ ...this.parsed.identityOf(node), connection }, resolvers);
      body = out.sql;
      sqlHeader = out.record.sqlHeader ?? sqlHeader;
      if (hasPlaceholders(body)) body = body.replace(/[\u0002\u0003]/g, '');
    }
    const ctes: CompiledSql['ctes'] = [];
    for (const eph of ephemerals) {
      const sub = await this.compile(eph, connection);
      for (const c of [...sub.ctes, { id: eph.uniqueId, name: `${EPHEMERAL_PREFIX}${eph.name}`, sql: sub.body }]) {
        if (!ctes.some((x) => x.id === c.id)) ctes.push(c);
      }
    }
    const sql = injectCtes(body, ctes);
    const hash = write && this.compiledDir && node.config.materialized !== 'ephemeral'
      ? this.writeCompiled(join(this.compiledDir, node.packageName, compiledFileOf(node)), sql)
      : sqlHash(sql);
    // config(sql_header=…) as well as {% call set_sql_header(config) %}; both go before the DDL.
    const configured = typeof node.config.sql_header === 'string' ? node.config.sql_header : undefined;
    const result = { sql, body, ctes, sqlHeader: [configured, sqlHeader].filter((h) => h && h.trim()).join(';\n') || undefined, sqlHash: hash };
    this.finished.set(node.uniqueId, result);
    return result;
  }
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Line of the first match of `pattern` in a node's raw code, found only when an error needs it. */
function lineOf(raw: string, pattern: RegExp): number | undefined {
  const m = pattern.exec(raw);
  return m ? raw.slice(0, m.index).split('\n').length : undefined;
}

export function unknownSourceError(parsed: ParsedProject, from: SqlNode, sourceName: string, table: string): KilnError {
  const line = lineOf(from.rawCode, new RegExp(`source\\s*\\(\\s*['"]${escapeRegex(sourceName)}['"]\\s*,\\s*['"]${escapeRegex(table)}['"]`));
  const known = [...parsed.nodes.values()].filter((n) => n.resourceType === 'source').map((n) => `${(n as { sourceName: string }).sourceName}.${n.name}`);
  return new KilnError('graph', `${from.resourceType} '${from.name}' uses source('${sourceName}', '${table}'), which is not defined`, {
    location: { file: from.originalFilePath, line },
    node: from.uniqueId,
    hint: known.length ? `Defined sources: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ' …' : ''}.` : 'Define it under sources: in a schema YAML file (name, then tables).',
  });
}

export function unknownRefError(parsed: ParsedProject, call: RefCall, from: SqlNode): KilnError {
  const what = call.package ? `'${call.package}.${call.name}'` : `'${call.name}'`;
  // A generic test is told at its line in the YAML; its raw code is generated.
  const location = from.declaredAt ?? { file: from.originalFilePath, line: call.line ?? lineOf(from.rawCode, new RegExp(`ref\\s*\\([^)]*['"]${escapeRegex(call.name)}['"]`)) };
  if (parsed.disabled.has(call.name)) {
    const d = parsed.disabled.get(call.name)!;
    return new KilnError('graph', `${from.resourceType} '${from.name}' refers to ${what}, which is disabled`, {
      location, node: from.uniqueId, hint: `Enable it (${d.originalFilePath}) or remove the ref.`,
    });
  }
  if (call.version !== undefined && parsed.refableNames().includes(call.name)) {
    const versions = [...parsed.nodes.values()]
      .filter((n): n is SqlNode => n.resourceType === 'model' && n.name === call.name && n.version !== undefined)
      .map((n) => String(n.version));
    return new KilnError('graph', `${from.resourceType} '${from.name}' refers to version ${call.version} of '${call.name}', which has versions ${versions.join(', ') || '(none)'}`, {
      location, node: from.uniqueId, hint: 'Pin an existing version, or leave v= out for the latest.',
    });
  }
  const close = closeMatches(call.name, parsed.refableNames());
  return new KilnError('graph', `${from.resourceType} '${from.name}' refers to ${what}, which is not a model or seed in this project`, {
    location,
    node: from.uniqueId,
    hint: close.length ? `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : 'Check the name, or add the model file.',
  });
}
