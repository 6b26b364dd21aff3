/**
 * `kiln run`, `seed` and `build`: execute the selected nodes over the scheduler, with on-run-start and
 * on-run-end hooks around them, then write run_results.json and manifest.json.
 */
import type { NodeIdentity } from '../compile/context.js';
import { KilnError, errorMessage } from '../errors.js';
import type { GraphNode, ResourceType, SeedNode, SqlNode, UnitTestNode } from '../project/nodes.js';
import type { ProjectGraph } from '../graph/dag.js';
import { testedNodes } from '../graph/selectors.js';
import { executeDataTest, storesFailures } from './executeTest.js';
import { executeUnitTest } from './unitTest.js';
import { executeMicrobatch, type BatchResult, type MicrobatchRequest } from './microbatch.js';
import { incrementalStrategy } from './incremental.js';
import type { Adapter } from '../adapter.js';
import { writeManifest, writeRunResults } from './artifacts.js';
import { executeModel, executeSeed, hookSql, type ExecuteOutcome, type ExecuteServices } from './executeNode.js';
import { executeSnapshot } from './snapshot.js';
import type { Invocation } from './invocation.js';
import type { NodeEventInfo } from './reporter.js';
import type { NodeResult, TestOutcome } from './results.js';
import { schedule } from './scheduler.js';

export interface RunSummary {
  results: NodeResult[];
  elapsedSeconds: number;
  /** 0 when everything passed, 1 when any node errored. */
  exitCode: number;
}

function describe(node: RunnableNode): string {
  if (node.resourceType === 'test') return `test ${node.name}`;
  if (node.resourceType === 'unit_test') return `unit_test ${node.model}::${node.name}`;
  const rel = `${node.relation.schema}.${node.relation.identifier}`;
  if (node.resourceType === 'seed') return `seed file ${rel}`;
  if (node.resourceType === 'snapshot') return `snapshot ${rel}`;
  return `sql ${String(node.config.materialized)} model ${rel}`;
}

type RunnableNode = SqlNode | SeedNode | UnitTestNode;

/** Whether a selected node does anything when run (ephemeral models and analyses do not). */
function isRunnable(n: GraphNode): boolean {
  return n.resourceType === 'seed' || n.resourceType === 'test' || n.resourceType === 'unit_test' || n.resourceType === 'snapshot'
    || (n.resourceType === 'model' && n.config.materialized !== 'ephemeral');
}

/**
 * `kiln build` runs a node's tests before what is downstream of it: a model waits for the tests of its
 * parents (a test on several parents, such as relationships, holds back only nodes downstream of all of
 * them), and a model waits for its unit tests, which in turn wait only for the model's parents.
 */
export function testGates(graph: ProjectGraph, selected: ReadonlySet<string>): (deps: Map<string, Set<string>>) => void {
  return (deps) => {
    const ancestorsOf = new Map<string, Set<string>>();
    const ancestors = (id: string) => {
      let a = ancestorsOf.get(id);
      if (!a) ancestorsOf.set(id, (a = graph.ancestors([id])));
      return a;
    };
    for (const id of selected) {
      const node = graph.node(id);
      if (node.resourceType === 'unit_test') {
        const model = node.dependsOn[0];
        deps.get(id)?.delete(model);
        if (selected.has(model)) deps.get(model)?.add(id);
        continue;
      }
      if (node.resourceType !== 'test') continue;
      const tested = testedNodes(graph, id);
      for (const parent of tested) {
        // The nearest selected nodes below the parent, looking through ones that do not run (ephemeral
        // models, unselected nodes), as the subset graph does for ordinary edges.
        const seen = new Set<string>();
        const stack = [...graph.children(parent)];
        while (stack.length) {
          const child = stack.pop()!;
          if (seen.has(child)) continue;
          seen.add(child);
          const kind = graph.node(child).resourceType;
          if (child === id || kind === 'test' || kind === 'unit_test') continue;
          if (!selected.has(child)) {
            stack.push(...graph.children(child));
            continue;
          }
          if (tested.length === 1 || tested.every((p) => p === parent || ancestors(child).has(p))) deps.get(child)?.add(id);
        }
      }
    }
  };
}

/** Run on-run-start / on-run-end hooks; `extra` adds variables such as `results`. */
async function runProjectHooks(inv: Invocation, which: 'on-run-start' | 'on-run-end', extra: Record<string, unknown>): Promise<void> {
  const hooks = which === 'on-run-start' ? inv.project.file.onRunStart : inv.project.file.onRunEnd;
  const wh = inv.warehouse!;
  for (const [i, hook] of hooks.entries()) {
    const identity: NodeIdentity = {
      uniqueId: `operation.${inv.project.name}.${inv.project.name}-${which}-${i}`,
      name: `${inv.project.name}-${which}-${i}`, resourceType: 'operation', packageName: inv.project.name,
      file: inv.project.file.file, fqn: [inv.project.name, 'hooks', `${inv.project.name}-${which}-${i}`],
      rawCode: hookSql(hook), baseConfig: {}, extra,
    };
    const pseudo = { uniqueId: identity.uniqueId, name: identity.name, resourceType: 'model', packageName: inv.project.name, originalFilePath: inv.project.file.file } as SqlNode;
    let sql: string;
    try {
      sql = (await inv.parsed.renderer.renderString(hookSql(hook), identity, inv.warehouse!.compiler.resolversFor(pseudo), `${which} hook ${i + 1}`)).trim();
    } catch (e) {
      // Point at the hook's entry in the project file, not at a line of the hook's own text.
      if (e instanceof KilnError) throw new KilnError(e.kind, e.message, { location: inv.project.file.yaml.locate([which, i]), hint: e.hint });
      throw e;
    }
    if (!sql) continue;
    try {
      await wh.adapter.withConnection((c) => c.execute(sql));
    } catch (e) {
      throw new KilnError('database', `${which} hook ${i + 1} failed: ${inv.redactor.scrub(errorMessage(e))}`, {
        location: inv.project.file.yaml.locate([which, i]),
        hint: 'Fix the hook in the project file.',
      });
    }
    inv.opts.reporter.info(`${which} hook ${i + 1} of ${hooks.length}: OK`);
  }
}

export async function runNodes(inv: Invocation, types: readonly ResourceType[]): Promise<RunSummary> {
  const started = performance.now();
  const reporter = inv.opts.reporter;
  const ids = inv.select(types).filter((id) => isRunnable(inv.graph.node(id)));
  const selected = new Set(ids);
  const wh = await inv.openWarehouse();
  const services: ExecuteServices = {
    parsed: inv.parsed, adapter: wh.adapter, relations: wh.relations, compiler: wh.compiler, materializer: wh.materializer, runDir: `${inv.targetDir}/run`,
    warn: (w) => reporter.warn(w), threads: inv.threads,
  };
  const results = new Map<string, NodeResult>();
  let started_count = 0;
  const total = ids.length;
  reporter.info(`Found ${summarizeProject(inv)}`);
  if (total === 0) reporter.info(`Nothing to do: the selection matched no ${types.map((t) => (t === 'unit_test' ? 'unit tests' : `${t}s`)).join(' or ')}.`);

  await runProjectHooks(inv, 'on-run-start', {});

  const eventFor = (id: string, index: number): NodeEventInfo => {
    const node = inv.graph.node(id) as RunnableNode;
    return { index, total, node, description: describe(node) };
  };

  await schedule(inv.graph, selected, {
    threads: inv.threads,
    failFast: inv.opts.failFast,
    signal: inv.abort.signal,
    adjustDependencies: inv.opts.command === 'build' ? testGates(inv.graph, selected) : undefined,
    onFailFast: () => {
      void wh.adapter.cancelAll();
    },
    skip: (id, cause) => {
      const node = inv.graph.node(id);
      const causeNode = cause ? inv.graph.node(cause) : undefined;
      const result: NodeResult = {
        uniqueId: id, status: 'skipped',
        message: causeNode ? `SKIP (${causeNode.resourceType === 'test' || causeNode.resourceType === 'unit_test' ? `${causeNode.resourceType} ${causeNode.name}` : `upstream ${causeNode.name}`} failed)` : inv.abort.signal.aborted ? 'SKIP (interrupted)' : 'SKIP (stopped by --fail-fast)',
        executionTime: 0, timing: [], adapterResponse: {}, failures: null, threadId: 'main',
        relationName: wh.adapter.renderRelation(node.relation),
      };
      results.set(id, result);
      reporter.nodeFinish(eventFor(id, 0), result);
    },
    run: async (id, thread) => {
      const node = inv.graph.node(id) as RunnableNode;
      const event = eventFor(id, ++started_count);
      reporter.nodeStart(event);
      const t0 = performance.now();
      const startedAt = new Date().toISOString();
      let result: NodeResult;
      try {
        if (node.resourceType === 'test' || node.resourceType === 'unit_test') {
          const outcome = node.resourceType === 'unit_test'
            ? await runUnitTest(services, node)
            : await executeDataTest(services, node, { storeFailures: !!inv.opts.storeFailures });
          result = {
            uniqueId: id, status: outcome.status, message: outcome.message, executionTime: (performance.now() - t0) / 1000,
            timing: [{ name: 'execute', startedAt, completedAt: new Date().toISOString() }],
            adapterResponse: {}, failures: outcome.failures, compiledCode: outcome.compiledCode, threadId: `Thread-${thread}`,
            relationName: node.resourceType === 'test' && storesFailures(node, { storeFailures: !!inv.opts.storeFailures }) ? wh.adapter.renderRelation(node.relation) : undefined,
            detail: outcome.detail,
          };
          results.set(id, result);
          reporter.nodeFinish(event, result);
          return outcome.status === 'fail' ? 'failed' : 'ok';
        }
        const outcome: ExecuteOutcome & { batchResults?: BatchResult[] } = node.resourceType === 'seed' ? await executeSeed(services, node)
          : node.resourceType === 'snapshot' ? await executeSnapshot(services, node)
          : isMicrobatch(node, wh.adapter) ? await executeMicrobatch(services, node, microbatchRequest(inv, id), (b) => reporter.batch(event, b))
          : await executeModel(services, node);
        result = {
          uniqueId: id, status: 'success', message: outcome.message,
          executionTime: (performance.now() - t0) / 1000,
          timing: [
            { name: 'compile', startedAt: outcome.compileStartedAt, completedAt: outcome.compileCompletedAt },
            { name: 'execute', startedAt: outcome.compileCompletedAt, completedAt: new Date().toISOString() },
          ],
          adapterResponse: {
            _message: outcome.message,
            code: outcome.code,
            rows_affected: outcome.rowsAffected,
            query_id: outcome.queryId,
            ...(outcome.extra ?? {}),
          },
          failures: null, compiledCode: outcome.compiledCode, threadId: `Thread-${thread}`,
          relationName: wh.adapter.renderRelation(node.relation),
        };
        if (outcome.batchResults) applyBatchResults(result, outcome.batchResults, inv);
      } catch (e) {
        const err = e instanceof KilnError ? e : new KilnError('runtime', errorMessage(e), { node: id });
        result = {
          uniqueId: id, status: 'error', message: inv.redactor.scrub(err.message),
          executionTime: (performance.now() - t0) / 1000,
          timing: [{ name: 'execute', startedAt, completedAt: new Date().toISOString() }],
          adapterResponse: {}, failures: null, threadId: `Thread-${thread}`,
          errorDetail: inv.redactor.scrub(err.format()),
          relationName: node.resourceType === 'test' || node.resourceType === 'unit_test' ? undefined : wh.adapter.renderRelation(node.relation),
        };
      }
      results.set(id, result);
      reporter.nodeFinish(event, result);
      return result.status === 'error' || result.status === 'partial success' ? 'failed' : 'ok';
    },
  });

  // Views that a replaced relation took along (drop … cascade) and that this run did not build again.
  const cascaded = wh.materializer.cascadeWarning();
  if (cascaded) reporter.warn(cascaded);
  const ordered = ids.map((id) => results.get(id)!).filter(Boolean);
  const hookResults = ordered.map((r) => ({ node: { unique_id: r.uniqueId, name: inv.graph.node(r.uniqueId).name }, status: r.status, message: r.message, execution_time: r.executionTime, failures: r.failures }));
  const schemas = [...new Set(ids.filter((id) => inv.graph.node(id).resourceType !== 'unit_test').map((id) => inv.graph.node(id).relation.schema))];
  let hookError: KilnError | undefined;
  try {
    // An interrupted run stops here: on-run-end hooks would run against a half-built project.
    if (!inv.abort.signal.aborted) {
      await runProjectHooks(inv, 'on-run-end', { results: hookResults, schemas, database_schemas: schemas.map((s) => [inv.target.database, s]) });
    }
  } catch (e) {
    hookError = e instanceof KilnError ? e : new KilnError('runtime', errorMessage(e));
  }
  await wh.compiler.flush();
  const elapsed = (performance.now() - started) / 1000;
  writeRunResults(inv, ordered, elapsed);
  writeManifest(inv);
  reporter.summary(ordered, elapsed);
  if (hookError) throw hookError;
  return { results: ordered, elapsedSeconds: elapsed, exitCode: ordered.some((r) => r.status === 'error' || r.status === 'fail' || r.status === 'partial success') ? 1 : 0 };
}

/** An incremental model whose strategy (read as the materialization reads it) is microbatch. */
function isMicrobatch(node: RunnableNode, adapter: Adapter): node is SqlNode {
  return node.resourceType === 'model' && node.config.materialized === 'incremental' && incrementalStrategy(node, adapter) === 'microbatch';
}

/** The window a microbatch model runs for: --event-time-start/end, or (kiln retry) the batches that failed. */
function microbatchRequest(inv: Invocation, id: string): MicrobatchRequest {
  return { eventTimeStart: inv.opts.eventTimeStart, eventTimeEnd: inv.opts.eventTimeEnd, batches: inv.opts.retryBatches?.get(id) };
}

/** A microbatch model succeeds when every batch did, is a partial success when some did, else an error. */
function applyBatchResults(result: NodeResult, batches: readonly BatchResult[], inv: Invocation): void {
  const ok = batches.filter((b) => b.status === 'success');
  const failed = batches.filter((b) => b.status === 'error');
  result.batchResults = { successful: ok.map((b) => [b.start, b.end]), failed: failed.map((b) => [b.start, b.end]) };
  if (failed.length === 0) return;
  result.status = ok.length ? 'partial success' : 'error';
  result.message = `${ok.length} of ${batches.length} batches succeeded`;
  result.errorDetail = inv.redactor.scrub([
    `${failed.length} batch${failed.length === 1 ? '' : 'es'} failed (kiln retry runs only these):`,
    ...failed.map((b) => `  [${b.start}, ${b.end}): ${b.message}`),
  ].join('\n'));
}

/** A unit test, run against the model it tests. */
function runUnitTest(services: ExecuteServices, node: UnitTestNode): Promise<TestOutcome> {
  return executeUnitTest(services, node, services.parsed.nodes.get(node.dependsOn[0]) as SqlNode);
}

export function summarizeProject(inv: Invocation): string {
  const count = (t: string) => [...inv.parsed.nodes.values()].filter((n) => n.resourceType === t).length;
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return [
    plural(count('model'), 'model', 'models'),
    plural(count('seed'), 'seed', 'seeds'),
    ...(count('snapshot') ? [plural(count('snapshot'), 'snapshot', 'snapshots')] : []),
    plural(count('test'), 'data test', 'data tests'),
    plural(count('unit_test'), 'unit test', 'unit tests'),
    plural(count('source'), 'source', 'sources'),
    plural(count('analysis'), 'analysis', 'analyses'),
    plural(inv.parsed.renderer.macros.allDefinitions().length, 'macro', 'macros'),
  ].join(', ');
}
