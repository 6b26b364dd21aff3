/**
 * One CLI invocation: load the project, resolve the target, parse, build the graph, select — then, for
 * commands that need it, open the warehouse. Holds what the artifacts are written from.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Adapter, AdapterFactory, QuotePolicy, TargetConfig } from '../adapter.js';
import { NodeCompiler } from '../compile/compileNode.js';
import { installJinja } from '../compile/jinja.js';
import { parseProject, builtinMacroFiles, restoreParsed, targetContext, type ParseOptions, type ParsedProject, type TargetInfo } from '../compile/parse.js';
import { loadSnapshot, saveSnapshot, snapshotKey } from '../compile/parseSnapshot.js';
import { ParseCache } from '../compile/parseCache.js';
import { RelationCache } from '../compile/relationCache.js';
import { KilnError } from '../errors.js';
import { buildGraph, restoreGraph, type ProjectGraph } from '../graph/dag.js';
import { loadYamlSelectors, selectNodes, type IndirectSelection, type SelectorDefinitions } from '../graph/selectors.js';
import { Diagnostics } from '../project/diagnostics.js';
import { recordEnvReads } from '../project/envReads.js';
import { loadProject, type Project } from '../project/loadProject.js';
import { loadProjectFile } from '../project/projectFile.js';
import type { ResourceType } from '../project/nodes.js';
import { resolveTarget, type ResolvedTarget } from '../project/profiles.js';
import { loadAdapterFactory } from '../registry.js';
import { Materializer } from './materialize.js';
import { checkRelationNames } from './relationNames.js';
import type { BatchWindow } from './microbatch.js';
import type { Reporter } from './reporter.js';
import { Redactor } from './redact.js';

export { KILN_VERSION } from '../version.js';
import { KILN_VERSION } from '../version.js';

/**
 * Below this many models to render, a worker thread costs more to start (≈0.2 s with its module loading
 * and macro compilation) than it saves.
 */
const PARALLEL_PARSE_MIN_NODES = Number(process.env.KILN_PARSE_WORKER_MIN_NODES ?? 400);

export interface InvocationOptions {
  command: string;
  projectDir: string;
  profilesDir?: string;
  target?: string;
  threads?: number;
  vars: Record<string, unknown>;
  fullRefresh: boolean;
  failFast: boolean;
  /** --store-failures: keep every test's failing rows unless the test's config says otherwise. */
  storeFailures?: boolean;
  /** Which tests of selected nodes are selected too (dbt's --indirect-selection); eager by default. */
  indirectSelection?: IndirectSelection;
  /** --event-time-start / --event-time-end: the window microbatch models run for. */
  eventTimeStart?: Date;
  eventTimeEnd?: Date;
  /** `kiln retry`: the batches of each microbatch model that failed last time (run only those). */
  retryBatches?: Map<string, BatchWindow[]>;
  select: string[];
  exclude: string[];
  selector?: string;
  reporter: Reporter;
  /** Use and update target/kiln_parse_cache.json (on by default; --no-partial-parse turns it off). */
  partialParse: boolean;
}

export interface Warehouse {
  adapter: Adapter;
  relations: RelationCache;
  compiler: NodeCompiler;
  materializer: Materializer;
}

/** `quoting: {identifier: true}` from the project file, as booleans (YAML may give 'true' as text). */
function quotePolicyOf(quoting: Record<string, unknown>): Partial<QuotePolicy> {
  const out: Partial<QuotePolicy> = {};
  for (const k of ['database', 'schema', 'identifier'] as const) {
    const v = quoting[k];
    if (typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string' && /^(true|false)$/i.test(v)) out[k] = v.toLowerCase() === 'true';
  }
  return out;
}

/** What every template render shares: logging, flags, the environment. */
function sharedServices(opts: InvocationOptions, redactor: Redactor): ParseOptions['shared'] {
  return {
    invocationId: '',
    runStartedAt: new Date(),
    log: (level, message, node) => opts.reporter.templateLog(level, redactor.scrub(message), node),
    flags: { FULL_REFRESH: opts.fullRefresh, WHICH: opts.command, FAIL_FAST: opts.failFast, STORE_FAILURES: !!opts.storeFailures },
    env: process.env,
    fullRefresh: opts.fullRefresh,
  };
}

export class Invocation {
  readonly invocationId = randomUUID();
  /** Aborted when the user interrupts (SIGINT/SIGTERM): the scheduler starts nothing more. */
  readonly abort = new AbortController();
  readonly startedAt = new Date();
  warehouse?: Warehouse;
  parseSeconds = 0;
  /** The parse snapshot's key: what the parse read (unset with --no-partial-parse). */
  parseKey?: string;

  private constructor(
    readonly opts: InvocationOptions,
    readonly project: Project,
    readonly resolvedTarget: ResolvedTarget,
    readonly targetConfig: TargetConfig,
    readonly factory: AdapterFactory,
    readonly target: TargetInfo,
    readonly parsed: ParsedProject,
    readonly graph: ProjectGraph,
    readonly selectors: SelectorDefinitions,
    readonly redactor: Redactor,
  ) {}

  get threads(): number {
    return this.target.threads;
  }

  get targetDir(): string {
    return join(this.project.dir, this.project.file.targetPath);
  }

  static async load(opts: InvocationOptions): Promise<Invocation> {
    const started = performance.now();
    // Jinja in YAML (profiles, project file, schema files) renders with the same parser as models.
    installJinja();
    // The project file names the profile; the target must be known before schema YAML renders ({{ target }}).
    const projectFile = loadProjectFile(opts.projectDir, new Diagnostics(), opts.vars);
    const profileName = projectFile.profile ?? projectFile.name;
    const resolved = resolveTarget({ profilesDir: opts.profilesDir, projectDir: projectFile.dir, profileName, targetName: opts.target, cliVars: opts.vars });
    const factory = await loadAdapterFactory(resolved.type, resolved.location);
    const { type: _type, threads: rawThreads, ...fields } = resolved.fields;
    void _type;
    const isThreadCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
    if (rawThreads !== undefined && !isThreadCount(rawThreads)) {
      throw new KilnError('config', `threads must be a positive whole number, not ${JSON.stringify(rawThreads)}`, { location: resolved.location });
    }
    if (opts.threads !== undefined && !isThreadCount(opts.threads)) {
      throw new KilnError('usage', `--threads must be a positive whole number, not '${opts.threads}'`);
    }
    const targetConfig = factory.validateTarget({ type: resolved.type, ...fields }, resolved.location, { dir: projectFile.dir, name: projectFile.name });
    const redactor = new Redactor(targetConfig);
    const threads = opts.threads ?? rawThreads ?? 4;
    const target: TargetInfo = {
      name: resolved.targetName,
      type: resolved.type,
      schema: targetConfig.schema,
      database: targetConfig.database,
      threads,
      profileName: resolved.profileName,
      fields: redactor.safeFields(targetConfig.fields),
    };
    const stopEnvRecording = recordEnvReads();
    let project: Project;
    let parsed: ParsedProject;
    let graph: ProjectGraph;
    let restoredFromSnapshot = false;
    let key: string | undefined;
    try {
      project = loadProject({ projectDir: opts.projectDir, cliVars: opts.vars, useCache: opts.partialParse, target: targetContext(target) });
      const macroChecksums = [...builtinMacroFiles(), ...project.macroFiles].map((m) => [m.path, m.checksum]);
      const parseOpts = { project, target, adapterPrefixes: [factory.type, ...(factory.parentTypes ?? [])], shared: sharedServices(opts, redactor) };
      const targetDir = join(project.dir, project.file.targetPath);
      const snapshotPath = join(targetDir, 'kiln_parse_snapshot.bin');
      key = opts.partialParse ? snapshotKey(project, [KILN_VERSION, factory.type, target, macroChecksums]) : undefined;
      const restored = key ? loadSnapshot(snapshotPath, key) : undefined;
      if (restored) {
        parsed = restoreParsed(parseOpts, restored.nodes, restored.disabled);
        graph = restoreGraph(parsed.nodes, restored.order);
        // The snapshot has every warning of the load and parse it was made from (the same inputs as now).
        project.diagnostics.warnings.splice(0, Infinity, ...restored.warnings);
        restoredFromSnapshot = true;
      } else {
        const cache = opts.partialParse
          ? ParseCache.open(join(targetDir, 'kiln_parse_cache.json'), ParseCache.globalKey([KILN_VERSION, project.file.yaml.data, macroChecksums, factory.type]))
          : undefined;
        const workerUrl = new URL('../compile/parseWorker.js', import.meta.url);
        parsed = await parseProject({
          ...parseOpts,
          cache,
          // The worker exists only in the built package (tests that run sources parse on one thread).
          parallel: existsSync(fileURLToPath(workerUrl)) ? { workerUrl, minNodes: PARALLEL_PARSE_MIN_NODES } : undefined,
        });
        graph = buildGraph(parsed);
        cache?.save([...parsed.nodes.keys()]);
        if (cache) opts.reporter.debug(`parse cache: ${cache.hits} hit${cache.hits === 1 ? '' : 's'}, ${cache.misses} miss${cache.misses === 1 ? '' : 'es'}`);
        if (key) {
          const envRead = [...stopEnvRecording(), ...parsed.envRead];
          saveSnapshot(snapshotPath, key, envRead, {
            nodes: parsed.nodes, disabled: parsed.disabled, warnings: [...project.diagnostics.warnings], order: graph.topologicalOrder(),
          });
        }
      }
    } finally {
      stopEnvRecording();
    }
    const selectors = loadYamlSelectors(project.selectorsYaml);
    for (const w of project.diagnostics.warnings) opts.reporter.warn(w);
    const inv = new Invocation(opts, project, resolved, targetConfig, factory, target, parsed, graph, selectors, redactor);
    inv.parseSeconds = (performance.now() - started) / 1000;
    inv.parseKey = key;
    opts.reporter.debug(restoredFromSnapshot
      ? 'parse: nothing changed; nodes restored from the parse snapshot'
      : `parse: rendered ${parsed.stats.rendered} models, ${parsed.stats.onWorker} of them on a worker thread`);
    return inv;
  }

  /** Selected node ids of the given resource types, in topological order. */
  select(types: readonly ResourceType[]): string[] {
    const selected = selectNodes(this.graph, this.selectors, {
      select: this.opts.select,
      exclude: this.opts.exclude,
      selector: this.opts.selector,
      indirect: this.opts.indirectSelection ?? 'eager',
    });
    return this.graph.topologicalOrder().filter((id) => selected.has(id) && types.includes(this.graph.node(id).resourceType));
  }

  /** The adapter and what runs on it; `connectLazily` defers connecting to the first query (see OpenOptions). */
  async openWarehouse(opts: { connectLazily?: boolean } = {}): Promise<Warehouse> {
    if (this.warehouse) return this.warehouse;
    let adapter: Adapter;
    try {
      adapter = await this.factory.open(this.targetConfig, {
        threads: this.threads, projectDir: this.project.dir, projectName: this.project.name, quoting: quotePolicyOf(this.project.file.quoting),
        connectLazily: opts.connectLazily,
      });
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(e.kind, this.redactor.scrub(e.message), { location: e.location ?? this.resolvedTarget.location, hint: e.hint });
      throw new KilnError('database', `could not connect to the ${this.factory.type} target '${this.target.name}': ${this.redactor.scrub((e as Error).message)}`, {
        location: this.resolvedTarget.location,
        hint: 'Check the connection fields of this target in profiles.yml; `kiln debug` tests the connection.',
      });
    }
    try {
      checkRelationNames(this.parsed.nodes.values(), adapter);
    } catch (e) {
      await adapter.close();
      throw e;
    }
    const relations = new RelationCache(adapter);
    const compiler = new NodeCompiler(this.parsed, adapter, join(this.targetDir, 'compiled'), `${this.project.file.targetPath}/compiled`);
    const shared = this.parsed.renderer.shared;
    this.parsed.renderer.setShared({ ...shared, adapter, relations, renderer: adapter, invocationId: this.invocationId, runStartedAt: this.startedAt });
    this.warehouse = { adapter, relations, compiler, materializer: new Materializer(adapter, relations) };
    return this.warehouse;
  }

  async close(): Promise<void> {
    if (this.warehouse) await this.warehouse.compiler.flush().finally(() => this.warehouse?.adapter.close());
    this.warehouse = undefined;
  }
}
