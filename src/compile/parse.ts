/**
 * The parse phase: turn a loaded project into nodes. Each model is rendered once with execute=false to
 * collect its refs, sources and config() calls; configs merge with dbt's precedence; relation names come
 * from the (overridable) generate_database_name / generate_schema_name / generate_alias_name macros.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError, type SourceLocation } from '../errors.js';
import { checksum, patchKey, type MacroFile, type Project, type SqlFile } from '../project/loadProject.js';
import { configInterner, mergeConfig, type NodeConfig } from '../project/nodeConfig.js';
import type { GraphNode, RefCall, SeedNode, SourceNode, SqlNode } from '../project/nodes.js';
import { builtinMacrosDir } from '../paths.js';
import { closeMatches } from '../suggest.js';
import { invocationValues, type NodeIdentity, type SharedServices } from './context.js';
import { BUILTIN_PACKAGE } from './macros.js';
import type { Renderer } from './renderer.js';
import type { ParseCache, ParseEntry } from './parseCache.js';
import { createParseRenderer, type ParseRendererSetup } from './parseRender.js';
import { columnGenericTests, TestRenderMemo } from './testRenderMemo.js';
import { applyParseEntry, buildsRelation, builtinRelation, macroRelation, MODEL_DEFAULTS, namingIsBuiltin, ProjectConfigs, relationClashError, relationKey, type Pending } from './modelNodes.js';
import { startParseWorker, type ParseWorker, type SharedJob } from './parseInWorker.js';
import type { SpeculatedRender } from './parseWorker.js';
import { declareTests, TEST_DEFAULTS, type DeclaredTest } from './testNodes.js';
import { loadUnitTests, unitTestNodes } from '../project/unitTests.js';
import { contractSpec } from '../project/contracts.js';
import { applyLegacyTarget, snapshotNames, snapshotSkeletons, snapshotSpec } from './snapshotNodes.js';

const SEED_DEFAULTS: NodeConfig = {
  ...MODEL_DEFAULTS, materialized: 'seed', delimiter: ',', quote_columns: null,
};
const SOURCE_DEFAULTS: NodeConfig = { enabled: true, tags: [], meta: {} };

export interface TargetInfo {
  name: string;
  type: string;
  schema: string;
  database?: string;
  threads: number;
  profileName: string;
  /** Non-secret target fields for the `target` variable. */
  fields: Record<string, unknown>;
}

export interface ParseOptions {
  project: Project;
  target: TargetInfo;
  /** Adapter type then the types it inherits macros from (redshift → postgres). */
  adapterPrefixes: string[];
  shared: Omit<SharedServices, 'macros' | 'graph' | 'vars' | 'target' | 'projectName' | 'adapterType'>;
  cache?: ParseCache;
  /** Render parse misses (models and tests) on a worker thread too, when there are at least `minNodes` of them. */
  parallel?: {
    workerUrl: URL;
    minNodes: number;
    /**
     * Start the worker before the nodes are known (a cold parse of a large project is sure to use it); it
     * renders models before schema YAML is read.
     */
    startEarly?: boolean;
    /** For tests: wait for the worker to take every node before this thread takes any. */
    workerFirst?: boolean;
  };
}

export interface ParsedProject {
  project: Project;
  renderer: Renderer;
  target: TargetInfo;
  nodes: Map<string, GraphNode>;
  /** Disabled nodes by name, so a ref to one can say so. */
  disabled: Map<string, GraphNode>;
  lookupRef(call: RefCall, fromPackage: string): SqlNode | SeedNode | undefined;
  /** A source table, looked up in `fromPackage` first (as dbt does), then anywhere. */
  lookupSource(sourceName: string, tableName: string, fromPackage?: string): SourceNode | undefined;
  /** Models and seeds by name, for suggestions. */
  refableNames(): string[];
  identityOf(node: SqlNode | SeedNode): NodeIdentity;
  /**
   * How many nodes were rendered (cache misses less the next two), how many of those on the worker thread,
   * and how many were generic tests given the render of an earlier test of their shape instead.
   */
  stats: { rendered: number; onWorker: number; fromShape: number };
  /** Env vars the parse's renders read, cached renders included (what the parse snapshot must watch). */
  envRead: ReadonlySet<string>;
  /** Likewise the `flags` they read. */
  flagsRead: ReadonlySet<string>;
}

let builtinMacroCache: MacroFile[] | undefined;

/** Kiln's own macro library (the repo's macros/ folder). */
export function builtinMacroFiles(): MacroFile[] {
  if (builtinMacroCache) return builtinMacroCache;
  const dir = builtinMacrosDir();
  const out: MacroFile[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else if (e.name.endsWith('.sql')) {
        const content = readFileSync(join(d, e.name), 'utf8');
        out.push({ path: `(kiln)/macros/${rel}${e.name}`, absPath: join(d, e.name), packageName: BUILTIN_PACKAGE, content, checksum: checksum(content) });
      }
    }
  };
  walk(dir, '');
  return (builtinMacroCache = out);
}

export function targetContext(t: TargetInfo) {
  return { ...t.fields, name: t.name, target_name: t.name, type: t.type, schema: t.schema, database: t.database, threads: t.threads, profile_name: t.profileName };
}

export async function parseProject(opts: ParseOptions): Promise<ParsedProject> {
  const setup = rendererSetup(opts);
  const early = opts.parallel?.startEarly ? startEarly(opts, setup) : undefined;
  try {
    return await parseWith(opts, setup, early);
  } catch (e) {
    // Not needed after all; stopped so that a long-lived process does not keep it.
    early?.worker.stop();
    throw e;
  }
}

/** The worker started before schema YAML is read, rendering the models as they stand without it. */
interface EarlyStart {
  worker: ParseWorker;
  speculation?: {
    /** Models then analyses, in project order: the skeletons made without schema YAML. */
    pending: Pending[];
    job: SharedJob<SpeculatedRender[]>;
  };
}

/**
 * A cold parse of a large project: start the worker, and have it render models while this thread reads
 * schema YAML (about a second at 10,000 models). Most renders do not read their config, or have no YAML
 * config, so most survive; parseWith redoes the others once the final skeletons are known.
 */
function startEarly(opts: ParseOptions, setup: ParseRendererSetup): EarlyStart {
  const { project, target } = opts;
  const worker = startParseWorker(opts.parallel!.workerUrl, setup, project.vars, opts.shared.log);
  let pending: Pending[];
  try {
    const configs = new ProjectConfigs(project, target, targetContext(target), new Map());
    pending = [...project.models.map((f) => configs.skeleton(f, 'model')), ...project.analyses.map((f) => configs.skeleton(f, 'analysis'))];
  } catch {
    // A mistake in the project file's config trees: the parse proper reports it, in its usual order.
    return { worker };
  }
  return { worker, speculation: { pending, job: worker.speculate(pending.map(pendingIdentity)) } };
}

/** What a parse render of a pending node sees. */
function pendingIdentity(p: Pending): NodeIdentity {
  return { ...nodeIdentity(p.node), baseConfig: p.baseConfig };
}

/**
 * Whether a render of `speculated` stands for `final`: the same node, and the same base config unless the
 * render never read it.
 */
function speculationHolds(speculated: Pending, final: Pending, configRead: boolean): boolean {
  if (speculated === final) return true;
  const a = speculated.node;
  const b = final.node;
  if (a.uniqueId !== b.uniqueId || a.name !== b.name || a.fqn.join('.') !== b.fqn.join('.')) return false;
  return !configRead || JSON.stringify(speculated.baseConfig) === JSON.stringify(final.baseConfig);
}

async function parseWith(opts: ParseOptions, setup: ParseRendererSetup, early: EarlyStart | undefined): Promise<ParsedProject> {
  const { project, target } = opts;
  const diags = project.diagnostics;
  const nodes = new Map<string, GraphNode>();
  const disabled = new Map<string, GraphNode>();
  const byName = new Map<string, (SqlNode | SeedNode)[]>();

  let parsed: ParsedProject;
  const invocation = invocationValues(opts.shared);
  const renderer = createParseRenderer(setup, project.vars, () => graphVariable(parsed));
  const identity = nodeIdentity;

  // Every model, analysis and seed by name as its file is read (before registration), to catch clashes.
  const claimed = new Map<string, (SqlNode | SeedNode)[]>();
  const claim = (node: SqlNode | SeedNode, location: SourceLocation) => {
    const version = (n: SqlNode | SeedNode) => (n.resourceType === 'seed' ? undefined : n.version);
    const samePackage = claimed.get(node.name)?.filter((n) => n.packageName === node.packageName) ?? [];
    const mixed = samePackage.find((n) => (version(n) === undefined) !== (version(node) === undefined));
    if (mixed) {
      throw new KilnError('config', `'${node.name}' is both a versioned model and an unversioned ${mixed.resourceType}: ${mixed.originalFilePath} and ${node.originalFilePath}`, {
        location,
        hint: `Rename the unversioned file, or list it as a version with defined_in: under ${node.name}'s versions.`,
      });
    }
    const existing = samePackage.find((n) => String(version(n)) === String(version(node)));
    if (existing) {
      throw new KilnError('config', `two resources are named '${node.name}': ${existing.originalFilePath} and ${node.originalFilePath}`, {
        location,
        hint: 'Model and seed names must be unique in a project; rename one of the files.',
      });
    }
    claimed.set(node.name, [...samePackage, node, ...(claimed.get(node.name) ?? []).filter((n) => n.packageName !== node.packageName)]);
  };

  const register = (node: SqlNode | SeedNode) => {
    if (node.config.enabled === false) {
      disabled.set(node.name, node);
      return;
    }
    nodes.set(node.uniqueId, node);
    if (node.resourceType === 'analysis' || node.resourceType === 'test') return; // compiled, never ref()-ed
    const list = byName.get(node.name) ?? [];
    list.push(node);
    byName.set(node.name, list);
  };

  const configs = new ProjectConfigs(project, target, targetContext(target));
  const internConfig = configInterner();
  const treeConfig = configs.treeConfig.bind(configs);
  const renderTreeConfig = configs.renderTreeConfig.bind(configs);
  const versionedFiles = configs.versionedFiles;

  const skeleton = (file: SqlFile, resourceType: 'model' | 'analysis', speculated?: Pending): Pending => {
    const p = configs.skeleton(file, resourceType, speculated);
    claim(p.node, { file: file.path });
    return p;
  };

  const finish = (p: Pending, result: ParseEntry) => {
    applyParseEntry(p, result);
    register(p.node);
  };

  const testSkeleton = (t: DeclaredTest): Pending => {
    const node: SqlNode = {
      uniqueId: t.uniqueId, resourceType: 'test', name: t.name, packageName: t.packageName, path: t.path, originalFilePath: t.originalFilePath,
      fqn: t.fqn, description: t.description, columns: [], meta: {}, tags: [], config: {}, relation: { schema: target.schema, identifier: t.name, database: target.database },
      rawCode: t.rawCode, checksum: t.templateArgs ? checksum(t.rawCode + JSON.stringify(t.templateArgs)) : checksum(t.rawCode), refs: [], sources: [], macros: [], dependsOn: [], parsedSql: '', placeholders: [],
      needsExecuteRender: false, testMetadata: t.metadata, columnName: t.columnName, fileKeyName: t.fileKeyName, declaredAt: t.location,
      testTemplateArgs: t.templateArgs,
    };
    const yamlConfig = renderTreeConfig(t.config, t.packageName);
    const baseConfig = internConfig(mergeConfig(mergeConfig(mergeConfig(TEST_DEFAULTS, treeConfig('tests', t.packageName, t.fqn)), yamlConfig), { tags: t.tags }));
    return { node, baseConfig, patchMeta: {} };
  };

  const speculation = early?.speculation;
  const pending: Pending[] = [
    ...project.models.map((f, i) => skeleton(f, 'model', speculation?.pending[i])),
    ...project.analyses.map((f, i) => skeleton(f, 'analysis', speculation?.pending[project.models.length + i])),
  ];
  // Snapshots ({% snapshot %} blocks and YAML `relation:` entries) render like models and are ref-able.
  for (const p of snapshotSkeletons({ project, target, diags, treeConfig: (pkg, fqn) => treeConfig('snapshots', pkg, fqn) })) {
    claim(p.node, p.node.declaredAt ?? { file: p.node.originalFilePath });
    pending.push(p);
  }
  const tests = declareTests(project, versionedFiles);
  const testPending = [
    ...tests.generic.map(testSkeleton),
    ...tests.singular.map((t) => testSkeleton(t)),
  ];
  const testIds = new Set<string>();
  for (const p of testPending) {
    if (testIds.has(p.node.uniqueId)) {
      throw new KilnError('config', `two tests are both named '${p.node.name}'`, {
        location: p.node.declaredAt ?? { file: p.node.originalFilePath },
        hint: 'The same test with the same arguments is declared twice; remove one, or give one a `name:`.',
      });
    }
    testIds.add(p.node.uniqueId);
  }
  pending.push(...testPending);
  const results = new Map<string, ParseEntry>();
  const misses: Pending[] = [];
  // Data tests are not in the parse cache: tests of one shape are rendered once (TestRenderMemo), and
  // checking and storing 20,000 entries cost more than rendering them that way.
  const cached = (p: Pending) => p.node.resourceType !== 'test';
  for (const p of pending) {
    const hit = cached(p) ? opts.cache?.lookup(p.node, p.baseConfig, project, target, invocation) : undefined;
    if (hit) results.set(p.node.uniqueId, hit);
    else misses.push(p);
  }
  // Large parses render on both cores: a worker thread takes nodes from the same queue as this one.
  // Models the worker rendered early (speculation) come first; they are the first pending nodes.
  const speculated = speculation?.pending.length ?? 0;
  const inSpeculation = new Set(pending.slice(0, speculated));
  // A generic test of a shape an earlier one has (TestRenderMemo) follows it: it is given that render once
  // it is made. With the worker, only the first test of each shape is shared with it, and the followers
  // come after; on this thread alone, every node is taken in order (the first error is the first one).
  const memo = new TestRenderMemo(columnGenericTests(renderer.macros.allDefinitions()));
  const unspeculated = misses.filter((p) => !inSpeculation.has(p));
  // Each node's identity, made once (the shape, the worker's job and the render all read it).
  const identities = new Map(unspeculated.map((p) => [p, pendingIdentity(p)]));
  const shapes = new Set<string>();
  const following = new Set<Pending>();
  for (const p of unspeculated) {
    const shape = p.node.resourceType === 'test' ? memo.shapeOf(identities.get(p)!) : undefined;
    if (shape === undefined) continue;
    if (shapes.has(shape)) following.add(p);
    shapes.add(shape);
  }
  const useWorker = early !== undefined || (opts.parallel !== undefined && misses.length - following.size >= opts.parallel.minNodes);
  const rest = useWorker ? unspeculated.filter((p) => !following.has(p)) : unspeculated;
  const followers = useWorker ? [...following] : [];
  const worker = useWorker ? (early?.worker ?? startParseWorker(opts.parallel!.workerUrl, setup, project.vars, opts.shared.log)) : undefined;
  const renderOne = (p: Pending): ParseEntry => {
    try {
      return memo.render(renderer, identities.get(p) ?? pendingIdentity(p));
    } catch (e) {
      if (p.node.testMetadata && e instanceof KilnError) throw genericTestError(e, p.node, renderer);
      throw e;
    }
  };
  const renderMissing = (p: Pending) => {
    if (!results.has(p.node.uniqueId)) results.set(p.node.uniqueId, renderOne(p));
  };
  const restIdentities = rest.map((p) => identities.get(p)!);
  const restJob = worker?.render(restIdentities);
  let onWorker = 0;
  try {
    // This thread takes from the speculation's queue, then from the rest's; the worker does likewise.
    if (speculation) {
      const queue = speculation.job.queue;
      if (opts.parallel?.workerFirst) await speculation.job.result;
      for (let i = queue.take(); i !== undefined; i = queue.take()) renderMissing(pending[i]);
    }
    if (restJob) {
      const queue = restJob.queue;
      if (opts.parallel?.workerFirst) await restJob.result.catch(() => undefined);
      for (let i = queue.take(); i !== undefined; i = queue.take()) results.set(rest[i].node.uniqueId, renderOne(rest[i]));
    } else {
      for (const p of rest) results.set(p.node.uniqueId, renderOne(p));
    }
    if (speculation) {
      for (const [i, entry, configRead, logs] of await speculation.job.result) {
        const final = pending[i];
        if (results.has(final.node.uniqueId) || !speculationHolds(speculation.pending[i], final, configRead)) continue;
        for (const l of logs) opts.shared.log(l.level, l.message, l.node);
        results.set(final.node.uniqueId, entry);
        onWorker++;
      }
      // What the worker could not render, or rendered with a config the YAML changed.
      for (let i = 0; i < speculated; i++) renderMissing(pending[i]);
    }
  } catch (e) {
    worker?.stop();
    throw e;
  }
  if (restJob) {
    let entries: [number, ParseEntry, boolean][];
    try {
      entries = await restJob.result;
    } catch (e) {
      // A generic test that failed on the worker is told at its YAML line, as on this thread.
      const failed = e instanceof KilnError && e.node ? rest.find((p) => p.node.uniqueId === e.node) : undefined;
      if (failed?.node.testMetadata && e instanceof KilnError) throw genericTestError(e, failed.node, renderer);
      throw e;
    }
    for (const [i, entry, logged] of entries) {
      results.set(rest[i].node.uniqueId, entry);
      memo.learn(restIdentities[i], entry, logged);
    }
    onWorker += entries.length;
  }
  for (const p of followers) results.set(p.node.uniqueId, renderOne(p));
  for (const p of misses) if (cached(p)) opts.cache?.store(p.node, p.baseConfig, project, target, invocation, results.get(p.node.uniqueId)!);
  for (const p of pending) if (p.node.resourceType !== 'test') finish(p, results.get(p.node.uniqueId)!);
  // Contracts are checked as configured (typed columns, well-formed constraints) before anything runs.
  for (const p of pending) if (p.node.resourceType === 'model' && p.node.config.enabled !== false) contractSpec(p.node);
  // Snapshot configs (strategy, unique_key, updated_at / check_cols …) are checked as dbt does, at parse time.
  for (const p of pending) if (p.node.resourceType === 'snapshot' && p.node.config.enabled !== false) snapshotSpec(p.node);

  for (const file of project.seeds) {
    const patch = project.patches.get(patchKey('seeds', file.packageName, file.name));
    const config = mergeConfig(mergeConfig(SEED_DEFAULTS, treeConfig('seeds', file.packageName, file.fqn)), patch?.config ?? {});
    const node: SeedNode = {
      uniqueId: `seed.${file.packageName}.${file.name}`, resourceType: 'seed', name: file.name, packageName: file.packageName,
      path: file.relPath, originalFilePath: file.path, fqn: file.fqn, description: patch?.description ?? '',
      columns: patch?.columns ?? [], meta: { ...((config.meta as object) ?? {}), ...(patch?.meta ?? {}) }, tags: (config.tags as string[]) ?? [],
      config, patchPath: patch?.file, relation: { schema: target.schema, identifier: file.name, database: target.database },
      absPath: file.absPath, checksum: file.checksum, dependsOn: [],
    };
    claim(node, { file: file.path });
    register(node);
  }

  for (const spec of project.sources) {
    // dbt's source fqn has the YAML file's folders (`-s staging` selects sources defined under models/staging);
    // the project file's `sources:` tree is keyed by package, source and table only.
    const fqn = [spec.packageName, ...(spec.folders ?? []), spec.sourceName, spec.name];
    const config = mergeConfig(mergeConfig(SOURCE_DEFAULTS, treeConfig('sources', spec.packageName, [spec.packageName, spec.sourceName, spec.name])), spec.config);
    const node: SourceNode = {
      uniqueId: `source.${spec.packageName}.${spec.sourceName}.${spec.name}`, resourceType: 'source', name: spec.name,
      packageName: spec.packageName, path: spec.file, originalFilePath: spec.file, fqn,
      description: spec.description, columns: spec.columns, meta: spec.meta, tags: [...new Set([...spec.tags, ...((config.tags as string[]) ?? [])])],
      config, patchPath: spec.file, relation: { database: spec.database ?? target.database, schema: spec.schema, identifier: spec.identifier },
      sourceName: spec.sourceName, sourceDescription: spec.sourceDescription, loader: spec.loader, loadedAtField: spec.loadedAtField,
      identifier: spec.identifier, quoting: spec.quoting, freshness: spec.freshness, location: spec.location,
    };
    if (config.enabled === false) continue;
    nodes.set(node.uniqueId, node);
  }

  // Tests last: a generic test exists only while what it tests is enabled.
  for (const p of testPending) {
    const decl = tests.attachedTo.get(p.node.uniqueId);
    if (decl) {
      const attached = decl.kind === 'sources'
        ? lookupSourceIn(nodes, decl.packageName, decl.sourceName!, decl.name)
        : (byName.get(decl.name) ?? []).find((n) => n.packageName === decl.packageName && (decl.version === undefined || (n.resourceType !== 'seed' && String(n.version) === String(decl.version))));
      if (!attached) continue;
      p.node.attachedNode = attached.uniqueId;
    }
    finish(p, results.get(p.node.uniqueId)!);
  }

  // Unit tests: one node per tested model (or version); the graph adds the model's parents to dependsOn.
  for (const spec of loadUnitTests(project, diags, { target: targetContext(target) })) {
    for (const unit of unitTestNodes(spec, nodes, { disabled })) {
      if (nodes.has(unit.uniqueId)) {
        throw new KilnError('config', `model '${spec.model}' has two unit tests named '${spec.name}'`, {
          location: spec.location, hint: 'Unit test names must be unique per model; rename one.',
        });
      }
      nodes.set(unit.uniqueId, unit);
    }
  }

  // Schema YAML entries that describe nothing are usually a renamed or misspelled model.
  const filesBySection = {
    models: project.models, seeds: project.seeds, analyses: project.analyses, snapshots: project.snapshots,
  };
  const ownNames = new Map(Object.entries(filesBySection).map(([section, files]) =>
    [section, new Set(files.filter((f) => f.packageName === project.name).map((f) => f.name))]));
  for (const name of snapshotNames(pending, project.name)) ownNames.get('snapshots')!.add(name);
  for (const [key, patch] of project.patches) {
    if (key !== patchKey(patch.resourceType, project.name, patch.name)) continue; // packages' YAML is not the user's
    const names = ownNames.get(patch.resourceType)!;
    const hasVersionFile = [...versionedFiles.values()].some((v) => v.patchKey === key);
    if (!names.has(patch.name) && !hasVersionFile) {
      const close = closeMatches(patch.name, names);
      diags.warn(`${patch.resourceType.replace(/s$/, '')} '${patch.name}' is described in YAML but has no file`, patch.location,
        close.length ? `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : 'Rename the entry to match a file, or remove it.');
    }
  }
  for (const [section, tree] of Object.entries(project.file.trees)) tree.reportUnused(diags, section);

  // Relation names through the overridable naming macros, as dbt does at parse time. When no project or
  // package overrides them, Kiln's own macros are computed directly (three macro calls per node, saved).
  const nativeNaming = namingIsBuiltin(renderer, opts.adapterPrefixes);
  const relationOwners = new Map<string, string>();
  const namingFlagsRead = new Set<string>();
  for (const node of nodes.values()) {
    if (node.resourceType !== 'model' && node.resourceType !== 'seed' && node.resourceType !== 'test' && node.resourceType !== 'snapshot') continue;
    const cached = nativeNaming ? builtinRelation(node, target) : node.resourceType !== 'seed' ? opts.cache?.relationFor(node, target, project, invocation) : undefined;
    if (cached) {
      node.relation = cached;
    } else {
      const named = macroRelation(renderer, node, identity(node));
      node.relation = named.relation;
      for (const name of named.flagsRead) namingFlagsRead.add(name);
      if (node.resourceType !== 'seed') opts.cache?.storeRelation(node, target, project, invocation, node.relation, named);
    }
    if (node.resourceType === 'snapshot') applyLegacyTarget(node);
    if (!buildsRelation(node)) continue;
    const key = relationKey(node);
    const owner = relationOwners.get(key);
    if (owner) throw relationClashError(node, nodes.get(owner)!);
    relationOwners.set(key, node.uniqueId);
  }

  const envRead = new Set<string>();
  const flagsRead = new Set<string>(namingFlagsRead);
  for (const entry of results.values()) {
    for (const name of entry.envRead) envRead.add(name);
    for (const name of entry.flagsRead ?? []) flagsRead.add(name);
  }
  for (const id of nodes.keys()) {
    const reads = opts.cache?.relationReads(id);
    for (const name of reads?.envRead ?? []) envRead.add(name);
    for (const name of reads?.flagsRead ?? []) flagsRead.add(name);
  }
  parsed = assembleParsed(project, renderer, target, nodes, disabled, identity, { rendered: misses.length - memo.hits, onWorker, fromShape: memo.hits }, envRead, flagsRead);
  return parsed;
}

function rendererSetup(opts: Pick<ParseOptions, 'project' | 'target' | 'adapterPrefixes' | 'shared'>): ParseRendererSetup {
  return {
    macroFiles: [...builtinMacroFiles(), ...opts.project.macroFiles],
    rootPackage: opts.project.name,
    adapterPrefixes: opts.adapterPrefixes,
    dispatch: opts.project.file.dispatch,
    target: targetContext(opts.target),
    adapterType: opts.target.type,
    shared: opts.shared,
  };
}

/** What a template render knows of the node it renders. */
export function nodeIdentity(n: SqlNode | SeedNode): NodeIdentity {
  return {
    uniqueId: n.uniqueId, name: n.name, resourceType: n.resourceType, packageName: n.packageName, file: n.originalFilePath,
    fqn: n.fqn, rawCode: n.resourceType === 'seed' ? '' : n.rawCode, baseConfig: n.config, relation: n.relation,
    ...(n.resourceType === 'test' && n.testTemplateArgs ? { extra: { __kiln_test: n.testTemplateArgs }, sharedTemplate: true } : {}),
  };
}

/**
 * A parsed project from nodes a previous parse produced (the parse snapshot): no template is rendered, no
 * test declared; only the renderer (for execute-time renders) and the lookups are set up again.
 */
export function restoreParsed(
  opts: Pick<ParseOptions, 'project' | 'target' | 'adapterPrefixes' | 'shared'>, nodes: Map<string, GraphNode>, disabled: Map<string, GraphNode>,
  renderer?: Renderer,
): ParsedProject {
  let parsed: ParsedProject | undefined = undefined;
  // A renderer reused from an earlier restore reads `graph` from that one's nodes: the same Map.
  renderer ??= createParseRenderer(rendererSetup(opts), opts.project.vars, () => graphVariable(parsed));
  parsed = assembleParsed(opts.project, renderer, opts.target, nodes, disabled, nodeIdentity, { rendered: 0, onWorker: 0, fromShape: 0 }, new Set(), new Set());
  return parsed;
}

/**
 * The parsed project around its nodes: ref()/source() lookups, suggestions, identities. Shared by a parse
 * and by a restore from the parse snapshot, so both answer lookups alike. `nodes` is in registration
 * order (models, analyses, snapshots, seeds, sources, tests, unit tests): ref() ties go to the first.
 */
function assembleParsed(
  project: Project, renderer: Renderer, target: TargetInfo, nodes: Map<string, GraphNode>, disabled: Map<string, GraphNode>,
  identity: (n: SqlNode | SeedNode) => NodeIdentity, stats: ParsedProject['stats'], envRead: ReadonlySet<string>, flagsRead: ReadonlySet<string>,
): ParsedProject {
  const byName = new Map<string, (SqlNode | SeedNode)[]>();
  for (const n of nodes.values()) {
    if (n.resourceType !== 'model' && n.resourceType !== 'seed' && n.resourceType !== 'snapshot') continue;
    const list = byName.get(n.name);
    if (list) list.push(n);
    else byName.set(n.name, [n]);
  }
  const refMemo = new Map<string, SqlNode | SeedNode | undefined>();
  const lookupRefUncached = (call: RefCall, fromPackage: string): SqlNode | SeedNode | undefined => {
    // A versioned model answers ref('m', v=1) with that version, and plain ref('m') with its latest.
    const all = byName.get(call.name) ?? [];
    const versionOf = (n: SqlNode | SeedNode) => (n.resourceType === 'seed' ? undefined : n);
    const candidates = all.filter((n) => {
      const v = versionOf(n);
      if (!v || v.version === undefined) return call.version === undefined;
      return call.version !== undefined ? String(v.version) === String(call.version) : String(v.version) === String(v.latestVersion);
    });
    if (call.package) return candidates.find((n) => n.packageName === call.package);
    return candidates.find((n) => n.packageName === fromPackage) ?? candidates.find((n) => n.packageName === project.name) ?? candidates[0];
  };
  return {
    project,
    renderer,
    target,
    nodes,
    disabled,
    lookupRef(call, fromPackage) {
      // Memoized: a model is ref()-ed by its dependents and each of its tests, tens of thousands of calls.
      const key = `${fromPackage}\0${call.package ?? ''}\0${call.name}\0${call.version ?? ''}`;
      if (refMemo.has(key)) return refMemo.get(key);
      const found = lookupRefUncached(call, fromPackage);
      refMemo.set(key, found);
      return found;
    },
    lookupSource(sourceName, tableName, fromPackage = project.name) {
      for (const pkg of [fromPackage, project.name, ...project.packageNames]) {
        const n = lookupSourceIn(nodes, pkg, sourceName, tableName);
        if (n) return n;
      }
      return undefined;
    },
    refableNames: () => [...byName.keys()],
    identityOf: identity,
    stats,
    envRead,
    flagsRead,
  };
}

/** A generic test that fails to render, told at its line in the YAML (and an unknown test name, with close names). */
function genericTestError(e: KilnError, node: SqlNode, renderer: Renderer): KilnError {
  const meta = node.testMetadata!;
  const macro = `test_${meta.name}`;
  const location = node.declaredAt ?? { file: node.originalFilePath };
  const known = meta.namespace ? undefined : renderer.macros.find(macro);
  if (!known && e.message.includes(macro)) {
    const tests = renderer.macros.allDefinitions().filter((d) => d.name.startsWith('test_')).map((d) => d.name.slice(5));
    const close = closeMatches(meta.name, tests);
    return new KilnError('compile', `unknown generic test '${meta.namespace ? `${meta.namespace}.` : ''}${meta.name}'`, {
      location, node: node.uniqueId,
      hint: close.length ? `Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : `Define it with {% test ${meta.name}(model, column_name) %} in macros/ or tests/generic/, or install the package that has it.`,
    });
  }
  return new KilnError(e.kind, `test '${node.name}': ${e.message}`, { location, node: node.uniqueId, hint: e.hint });
}

function lookupSourceIn(nodes: Map<string, GraphNode>, pkg: string, sourceName: string, tableName: string): SourceNode | undefined {
  const n = nodes.get(`source.${pkg}.${sourceName}.${tableName}`);
  return n?.resourceType === 'source' ? n : undefined;
}

/** The `graph` template variable: nodes and sources as dbt exposes them (a read-only summary). */
function graphVariable(parsed: ParsedProject | undefined): unknown {
  if (!parsed) return { nodes: {}, sources: {} };
  const nodes: Record<string, unknown> = {};
  const sources: Record<string, unknown> = {};
  for (const n of parsed.nodes.values()) {
    const base = {
      unique_id: n.uniqueId, name: n.name, resource_type: n.resourceType, package_name: n.packageName, fqn: n.fqn,
      original_file_path: n.originalFilePath, path: n.path, config: n.config, tags: n.tags, description: n.description,
      database: n.relation.database, schema: n.relation.schema, alias: n.relation.identifier, meta: n.meta,
      columns: Object.fromEntries(n.columns.map((c) => [c.name, { name: c.name, description: c.description, data_type: c.dataType ?? null }])),
    };
    if (n.resourceType === 'source') sources[n.uniqueId] = { ...base, source_name: n.sourceName, identifier: n.identifier };
    else if (n.resourceType === 'unit_test') continue;
    else nodes[n.uniqueId] = { ...base, depends_on: { nodes: n.dependsOn }, raw_code: n.resourceType === 'seed' ? '' : n.rawCode };
  }
  return { nodes, sources, exposures: {}, metrics: {}, groups: {} };
}
