/**
 * One CLI invocation: load the project, resolve the target, parse, build the graph, select — then, for
 * commands that need it, open the warehouse. Holds what the artifacts are written from.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Adapter, AdapterFactory, QuotePolicy, TargetConfig } from '../adapter.js';
import { NodeCompiler } from '../compile/compileNode.js';
import { installJinja } from '../compile/jinja.js';
import { targetContext, type ParseOptions, type ParsedProject, type TargetInfo } from '../compile/parse.js';
import { loadParsed, type ParsedState, type ParseIdentity } from './loadParsed.js';
import { RelationCache } from '../compile/relationCache.js';
import { KilnError } from '../errors.js';
import type { ProjectGraph } from '../graph/dag.js';
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
  /**
   * Leave saving the parse snapshot and cache to saveParseState() (which close() calls in any case):
   * `kiln compile` saves them while its compiled files are written.
   */
  deferParseSave?: boolean;
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

/** What every template render shares: the invocation, logging, flags, the environment. */
function sharedServices(opts: InvocationOptions, redactor: Redactor, invocation: { id: string; startedAt: Date }): ParseOptions['shared'] {
  return {
    invocationId: invocation.id,
    runStartedAt: invocation.startedAt,
    log: (level, message, node) => opts.reporter.templateLog(level, redactor.scrub(message), node),
    flags: { FULL_REFRESH: opts.fullRefresh, WHICH: opts.command, FAIL_FAST: opts.failFast, STORE_FAILURES: !!opts.storeFailures },
    env: process.env,
    fullRefresh: opts.fullRefresh,
  };
}

export class Invocation {
  /** Aborted when the user interrupts (SIGINT/SIGTERM): the scheduler starts nothing more. */
  readonly abort = new AbortController();
  warehouse?: Warehouse;
  parseSeconds = 0;
  /** What the parse read (unset with --no-partial-parse). */
  parseIdentity?: ParseIdentity;

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
    /** The same id and start time in templates at parse and at execute time, and in the artifacts. */
    readonly invocationId: string,
    readonly startedAt: Date,
  ) {}

  get threads(): number {
    return this.target.threads;
  }

  get targetDir(): string {
    return join(this.project.dir, this.project.file.targetPath);
  }

  static async load(opts: InvocationOptions): Promise<Invocation> {
    const started = performance.now();
    const invocationId = randomUUID();
    const startedAt = new Date();
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
    let state: ParsedState;
    try {
      project = loadProject({ projectDir: opts.projectDir, cliVars: opts.vars, useCache: opts.partialParse, target: targetContext(target) });
      state = await loadParsed({
        project, target, adapterPrefixes: [factory.type, ...(factory.parentTypes ?? [])], shared: sharedServices(opts, redactor, { id: invocationId, startedAt }),
        adapterType: factory.type, partialParse: opts.partialParse, reporter: opts.reporter, envReads: stopEnvRecording,
      });
    } finally {
      stopEnvRecording();
    }
    const { parsed, graph } = state;
    let selectors: SelectorDefinitions;
    try {
      selectors = loadYamlSelectors(project.selectorsYaml);
    } catch (e) {
      // The parse itself is good: keep it for the run after selectors.yml is fixed.
      state.save();
      throw e;
    }
    for (const w of project.diagnostics.warnings) opts.reporter.warn(w);
    const inv = new Invocation(opts, project, resolved, targetConfig, factory, target, parsed, graph, selectors, redactor, invocationId, startedAt);
    inv.parseSeconds = (performance.now() - started) / 1000;
    inv.parseIdentity = state.identity;
    inv.pendingParseSave = state.save;
    if (!opts.deferParseSave) inv.saveParseState();
    opts.reporter.debug(`parse: ${state.how}`);
    return inv;
  }

  private pendingParseSave?: () => void;

  /** Save the parse snapshot and cache for the next invocation, once (see InvocationOptions.deferParseSave). */
  saveParseState(): void {
    const save = this.pendingParseSave;
    this.pendingParseSave = undefined;
    save?.();
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
    const compiler = new NodeCompiler(this.parsed, adapter, join(this.targetDir, 'compiled'), `${this.project.file.targetPath}/compiled`, this.opts.partialParse);
    const shared = this.parsed.renderer.shared;
    this.parsed.renderer.setShared({ ...shared, adapter, relations, renderer: adapter, invocationId: this.invocationId, runStartedAt: this.startedAt });
    this.warehouse = { adapter, relations, compiler, materializer: new Materializer(adapter, relations) };
    return this.warehouse;
  }

  async close(): Promise<void> {
    try {
      this.saveParseState();
    } finally {
      if (this.warehouse) await this.warehouse.compiler.flush().finally(() => this.warehouse?.adapter.close());
      this.warehouse = undefined;
    }
  }
}
