/**
 * The CLI commands. Each returns its exit code; a KilnError is printed (file:line, what to do) in the chosen
 * log format and maps to its exit code.
 */
import { existsSync, rmSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { KilnError, errorMessage } from '../errors.js';
import { findProjectFile } from '../project/projectFile.js';
import { profileSearchPath } from '../project/profiles.js';
import type { GraphNode, ResourceType } from '../project/nodes.js';
import type { SqlNode } from '../project/nodes.js';
import { writeManifest } from '../run/artifacts.js';
import { compileProject } from '../run/compileProject.js';
import { Invocation, KILN_VERSION, type InvocationOptions } from '../run/invocation.js';
import { readRetryPlan, type RetryableCommand } from '../run/retry.js';
import { runNodes, summarizeProject } from '../run/runNodes.js';
import { showQuery } from '../run/show.js';
import { loadProjectFile } from '../project/projectFile.js';
import { Diagnostics } from '../project/diagnostics.js';
import { invocationOptions, makeReporter, type GlobalFlags } from './main.js';
import { printFatal } from './output.js';
import { formatTable } from '../table.js';
import { scaffoldProject } from './scaffold.js';

type CommandFn = (flags: GlobalFlags, args: string[], opts: Record<string, unknown>) => Promise<number>;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Run a command body; print user errors in the chosen format and return their exit code. */
async function guarded(flags: GlobalFlags, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof KilnError) {
      printFatal(flags.logFormat, e);
      return e.exitCode;
    }
    throw e;
  }
}

/** Load the project for a command; close the warehouse afterwards whatever happens. */
async function withInvocation(
  name: string, flags: GlobalFlags, body: (inv: Invocation) => Promise<number>, extra: Partial<InvocationOptions> = {},
): Promise<number> {
  return guarded(flags, async () => {
    const reporter = makeReporter(flags);
    const inv = await Invocation.load({ ...invocationOptions(name, flags, reporter), ...extra });
    let interrupted = false;
    // First Ctrl-C: cancel and stop cleanly (run_results is still written). Second: leave at once.
    const onSignal = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      reporter.info('Interrupted: cancelling running queries…');
      inv.abort.abort();
      void inv.warehouse?.adapter.cancelAll();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const code = await body(inv);
      return interrupted ? 130 : code;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await inv.close();
    }
  });
}

function selectorName(n: GraphNode): string {
  if (n.resourceType === 'source') return `source:${n.fqn.join('.')}`;
  if (n.resourceType === 'unit_test') return `unit_test:${n.fqn.join('.')}`;
  return n.fqn.join('.');
}

/** What each command runs. */
const COMMAND_TYPES: Record<RetryableCommand, ResourceType[]> = {
  run: ['model'],
  seed: ['seed'],
  build: ['seed', 'model', 'snapshot', 'test', 'unit_test'],
  snapshot: ['snapshot'],
  test: ['test', 'unit_test'],
};

const run = (name: RetryableCommand): CommandFn => (flags) =>
  withInvocation(name, flags, async (inv) => (await runNodes(inv, COMMAND_TYPES[name])).exitCode);

export const commands: Record<string, CommandFn> = {
  run: run('run'),
  seed: run('seed'),
  build: run('build'),
  snapshot: run('snapshot'),
  test: run('test'),

  /** Rerun what failed or was skipped last time, as that command, with its options. */
  async retry(flags) {
    return guarded(flags, async () => {
      const pf = loadProjectFile(flags.projectDir, new Diagnostics(), {});
      const display = `${pf.targetPath}/run_results.json`;
      const plan = readRetryPlan(join(pf.dir, pf.targetPath, 'run_results.json'), display);
      if (plan.uniqueIds.length === 0) {
        makeReporter(flags).info(`Nothing to retry: every node of the previous '${plan.command}' succeeded.`);
        return 0;
      }
      const a = plan.args;
      const retryFlags: GlobalFlags = {
        ...flags, target: flags.target ?? a.target, threads: flags.threads ?? (a.threads === undefined ? undefined : String(a.threads)),
        vars: JSON.stringify(a.vars), fullRefresh: a.fullRefresh, failFast: a.failFast, storeFailures: a.storeFailures,
        eventTimeStart: a.eventTimeStart, eventTimeEnd: a.eventTimeEnd,
        select: plan.uniqueIds.map((id) => `unique_id:${id}`), exclude: [], selector: undefined, indirectSelection: 'empty',
      };
      return withInvocation(plan.command, retryFlags, async (inv) => (await runNodes(inv, COMMAND_TYPES[plan.command])).exitCode, {
        retryBatches: plan.retryBatches,
      });
    });
  },

  async parse(flags) {
    return withInvocation('parse', flags, async (inv) => {
      writeManifest(inv);
      inv.opts.reporter.info(`Found ${summarizeProject(inv)}`);
      inv.opts.reporter.info(`Parsed in ${inv.parseSeconds.toFixed(2)}s; wrote ${relative(process.cwd(), join(inv.targetDir, 'manifest.json')) || 'manifest.json'}`);
      return 0;
    });
  },

  async compile(flags, _args, opts) {
    return withInvocation('compile', flags, async (inv) => {
      if (typeof opts.inline === 'string') {
        // Inline SQL renders at compile time: the parse state is saved first (see compileProject).
        inv.saveParseState();
        await inv.openWarehouse({ connectLazily: true });
        out(await compileInline(inv, opts.inline));
        return 0;
      }
      const ids = inv.select(['model', 'analysis', 'snapshot', 'test']);
      const result = await compileProject(inv, ids);
      const reporter = inv.opts.reporter;
      const nodes = `${ids.length} node${ids.length === 1 ? '' : 's'}`;
      // Phase timings, so benchmarks can tell parsing and compiling from writing artifacts.
      reporter.info(`Parsed in ${inv.parseSeconds.toFixed(2)}s`);
      reporter.info(result.unchanged
        ? `Compiled ${nodes} in ${result.compileSeconds.toFixed(2)}s: the same parse as the last compile, whose files and manifest.json are unchanged`
        : `Compiled ${nodes} in ${result.compileSeconds.toFixed(2)}s into ${inv.project.file.targetPath}/compiled/; ` +
          `saved the parse state and manifest.json in ${result.artifactsSeconds.toFixed(2)}s; compiled files done ${result.flushSeconds.toFixed(2)}s later`);
      if (result.failures.length) {
        for (const f of result.failures) printFatal(flags.logFormat, f);
        return Math.max(...result.failures.map((f) => f.exitCode));
      }
      if (ids.length === 1 && flags.logFormat !== 'json') {
        const wh = await inv.openWarehouse({ connectLazily: true });
        out((await wh.compiler.compile(inv.graph.node(ids[0]) as SqlNode)).sql);
      }
      return 0;
    }, { deferParseSave: true });
  },

  async ls(flags, _args, opts) {
    return withInvocation('ls', flags, async (inv) => {
      const known = ['model', 'seed', 'source', 'analysis', 'snapshot', 'test', 'unit_test'];
      const types = (opts.resourceType as string[] | undefined) ?? known;
      for (const t of types) {
        if (!known.includes(t)) throw new KilnError('usage', `unknown resource type '${t}'`, { hint: `Types: ${known.join(', ')}.` });
      }
      const ids = inv.select(types as never).sort();
      const format = String(opts.output ?? 'selector');
      const keys = opts.outputKeys as string[] | undefined;
      for (const id of ids) {
        const n = inv.graph.node(id);
        if (format === 'name') out(n.name);
        else if (format === 'path') out(n.originalFilePath);
        else if (format === 'selector') out(selectorName(n));
        else {
          const full: Record<string, unknown> = {
            name: n.name, resource_type: n.resourceType, package_name: n.packageName, original_file_path: n.originalFilePath,
            unique_id: n.uniqueId, alias: n.relation.identifier, config: n.config, tags: n.tags, depends_on: { nodes: inv.graph.parents(id) },
          };
          out(JSON.stringify(keys ? Object.fromEntries(keys.map((k) => [k, full[k]])) : full));
        }
      }
      return 0;
    });
  },

  async show(flags, _args, opts) {
    return withInvocation('show', flags, async (inv) => {
      const limit = Number(opts.limit ?? 5);
      if (!Number.isInteger(limit) || limit < 0) throw new KilnError('usage', `--limit must be a whole number, not '${String(opts.limit)}'`);
      let sql: string;
      let title: string;
      const wh = await inv.openWarehouse();
      if (typeof opts.inline === 'string') {
        sql = await compileInline(inv, opts.inline);
        title = 'inline query';
      } else {
        const ids = inv.select(['model', 'analysis', 'seed']);
        if (ids.length !== 1) {
          throw new KilnError('usage', ids.length === 0 ? 'show: --select matched nothing' : `show needs exactly one node; --select matched ${ids.length}`, {
            hint: 'Select one model (kiln show -s orders) or pass --inline "select …".',
          });
        }
        const node = inv.graph.node(ids[0]);
        title = node.name;
        sql = node.resourceType === 'seed' ? `select * from ${wh.adapter.renderRelation(node.relation)}` : (await wh.compiler.compile(node as SqlNode)).sql;
      }
      const result = await showQuery(inv, sql, limit);
      if (flags.logFormat === 'json') out(JSON.stringify({ event: 'show', node: title, columns: result.columns.map((c) => c.name), rows: result.rows }));
      else {
        out(`Previewing ${title}:`);
        out(formatTable(result.columns.map((c) => c.name), result.rows));
      }
      return 0;
    });
  },

  async debug(flags) {
    return guarded(flags, async () => {
      out(`kiln version: ${KILN_VERSION}`);
      out(`node: ${process.version}`);
      const dir = resolve(flags.projectDir);
      const pf = findProjectFile(dir);
      out(`project dir: ${dir}`);
      out(`  project file: ${pf ?? 'not found'}`);
      out('profiles.yml search path:');
      for (const p of profileSearchPath({ profilesDir: flags.profilesDir, projectDir: dir })) {
        out(`  ${existsSync(join(p.dir, 'profiles.yml')) ? '[found]  ' : '[absent] '}${join(p.dir, 'profiles.yml')} (${p.why})`);
      }
      const reporter = makeReporter({ ...flags, quiet: true });
      const inv = await Invocation.load(invocationOptions('debug', flags, reporter));
      out(`profile: ${inv.target.profileName}, target: ${inv.target.name} (${inv.resolvedTarget.file ?? 'embedded default: no profiles.yml found'})`);
      out(`  type: ${inv.target.type}`);
      out(`  database: ${inv.target.database ?? '(none)'}`);
      out(`  schema: ${inv.target.schema}`);
      out(`  threads: ${inv.threads}`);
      for (const [k, v] of Object.entries(inv.target.fields)) if (!['schema', 'database'].includes(k)) out(`  ${k}: ${JSON.stringify(v)}`);
      out(`project: ${inv.project.name} — ${summarizeProject(inv)}`);
      try {
        const wh = await inv.openWarehouse();
        await wh.adapter.withConnection((c) => c.execute('select 1 as ok'));
        out('connection: OK');
        return 0;
      } catch (e) {
        out(`connection: FAILED — ${inv.redactor.scrub(errorMessage(e))}`);
        return 1;
      } finally {
        await inv.close();
      }
    });
  },

  async init(flags, args, opts) {
    return guarded(flags, async () => {
      const dir = resolve(args[0] ?? '.');
      const name = String(opts.name ?? basename(dir)).replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1');
      if (findProjectFile(dir)) {
        throw new KilnError('usage', `${dir} already holds a project file`, { hint: 'Choose an empty or new directory.' });
      }
      const files = scaffoldProject(dir, name);
      out(`Created project '${name}' in ${dir}:`);
      for (const f of files) out(`  ${f}`);
      out(`Next: cd ${relative(process.cwd(), dir) || '.'} && kiln build`);
      return 0;
    });
  },

  async clean(flags) {
    return guarded(flags, async () => {
      const file = loadProjectFile(flags.projectDir, new Diagnostics(), {});
      for (const t of file.cleanTargets) {
        const abs = resolve(file.dir, t);
        if (abs === file.dir || !abs.startsWith(file.dir + sep)) {
          throw new KilnError('config', `clean-targets entry '${t}' is outside the project directory; refusing to delete it`, {
            location: file.yaml.locate(['clean-targets']),
          });
        }
        rmSync(abs, { recursive: true, force: true });
        out(`Removed ${t}`);
      }
      return 0;
    });
  },
};

/** Compile free-standing SQL (may use ref/source/macros; ephemeral models are inlined). */
async function compileInline(inv: Invocation, sql: string): Promise<string> {
  const wh = await inv.openWarehouse();
  return (await wh.compiler.compileInline(sql, inv.project.name, { schema: inv.target.schema, identifier: 'inline_query', database: inv.target.database })).sql;
}
