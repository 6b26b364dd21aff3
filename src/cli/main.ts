/**
 * The `kiln` command line (commander). Exit codes: 0 success, 1 node failures, 2 usage/config/compile
 * errors, 130 interrupted. User errors print file:line and advice, never a stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { KilnError } from '../errors.js';
import { isPlainObject } from '../project/yamlFile.js';
import type { InvocationOptions } from '../run/invocation.js';
import { KILN_VERSION } from '../run/invocation.js';
import type { Reporter } from '../run/reporter.js';
import type { IndirectSelection } from '../graph/selectors.js';
import { parseEventTime } from '../run/microbatch.js';
import { commands } from './commands.js';
import { JsonReporter, printFatal, TextReporter, type LogFormat } from './output.js';

export interface GlobalFlags {
  projectDir: string;
  profilesDir?: string;
  target?: string;
  threads?: string;
  vars?: string;
  select?: string[];
  exclude?: string[];
  selector?: string;
  fullRefresh?: boolean;
  failFast?: boolean;
  storeFailures?: boolean;
  indirectSelection?: IndirectSelection;
  eventTimeStart?: string;
  eventTimeEnd?: string;
  logFormat: LogFormat;
  quiet?: boolean;
  debug?: boolean;
  partialParse: boolean;
}

export function parseVars(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (e) {
    throw new KilnError('usage', `--vars is not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`, {
      hint: `Write it as YAML or JSON, e.g. --vars '{start_date: "2024-01-01"}'.`,
    });
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) throw new KilnError('usage', '--vars must be a mapping of names to values', { hint: `e.g. --vars '{key: value}'` });
  return value;
}

export function makeReporter(flags: GlobalFlags): Reporter {
  return flags.logFormat === 'json' ? new JsonReporter(!!flags.debug) : new TextReporter(!!flags.quiet, !!flags.debug);
}

export function invocationOptions(command: string, flags: GlobalFlags, reporter: Reporter): InvocationOptions {
  // Checked with the profile's threads in Invocation.load.
  const threads = flags.threads === undefined ? undefined : Number(flags.threads);
  return {
    command,
    projectDir: flags.projectDir,
    profilesDir: flags.profilesDir,
    target: flags.target,
    threads,
    vars: parseVars(flags.vars),
    fullRefresh: !!flags.fullRefresh,
    failFast: !!flags.failFast,
    storeFailures: !!flags.storeFailures,
    indirectSelection: flags.indirectSelection ?? (process.env.DBT_INDIRECT_SELECTION as IndirectSelection | undefined) ?? 'eager',
    ...eventTimeWindow(flags),
    select: flags.select ?? [],
    exclude: flags.exclude ?? [],
    selector: flags.selector,
    reporter,
    partialParse: flags.partialParse,
  };
}

/** --event-time-start / --event-time-end as dates, checked. */
function eventTimeWindow(flags: GlobalFlags): { eventTimeStart?: Date; eventTimeEnd?: Date } {
  const parse = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const d = parseEventTime(value);
    if (!d) throw new KilnError('usage', `${flag} '${value}' is not a date`, { hint: `Write it as 2024-01-01 or 2024-01-01T06:00:00 (UTC).` });
    return d;
  };
  const eventTimeStart = parse('--event-time-start', flags.eventTimeStart);
  const eventTimeEnd = parse('--event-time-end', flags.eventTimeEnd);
  if (eventTimeStart && eventTimeEnd && eventTimeStart >= eventTimeEnd) {
    throw new KilnError('usage', `--event-time-start (${flags.eventTimeStart}) must be before --event-time-end (${flags.eventTimeEnd})`);
  }
  return { eventTimeStart, eventTimeEnd };
}

/** Options of the commands that build microbatch models. */
function eventTimeOptions(cmd: Command): Command {
  return cmd
    .option('--event-time-start <time>', 'microbatch models: run the batches from this time (2024-01-01 or 2024-01-01T06:00:00, UTC)')
    .option('--event-time-end <time>', 'microbatch models: … up to (not including) this time');
}

/** Options every command that loads a project takes. */
function withCommonOptions(cmd: Command, selection = true): Command {
  cmd
    .option('--project-dir <dir>', 'directory holding kiln_project.yml or dbt_project.yml', process.env.KILN_PROJECT_DIR ?? '.')
    .option('--profiles-dir <dir>', 'directory holding profiles.yml (default: search KILN_PROFILES_DIR, the project, ~/.kiln, ~/.dbt)')
    .option('-t, --target <name>', 'profile target to use (default: the profile\'s `target`)')
    .option('--threads <n>', 'how many nodes to run at once (default: the target\'s threads, else 4)')
    .option('--vars <yaml>', 'variables for var(), as YAML or JSON: \'{key: value}\'')
    .addOption(new Option('--log-format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-q, --quiet', 'print only errors and requested output')
    .option('--debug', 'print debug lines (macro log() calls, cache use)')
    .option('--no-partial-parse', 'ignore and do not update target/kiln_parse_cache.json');
  if (selection) {
    cmd
      .option('-s, --select <selector...>', 'nodes to include (names, tag:, path:, +graph operators …)')
      .option('-m, --models <selector...>', 'alias of --select (older dbt)')
      .option('--exclude <selector...>', 'nodes to leave out')
      .option('--selector <name>', 'a named selector from selectors.yml');
  }
  return cmd;
}

/** Options of the commands that run tests. */
function testOptions(cmd: Command): Command {
  return cmd
    .option('--store-failures', "keep each test's failing rows in a table in the <schema>_dbt_test__audit schema")
    .addOption(new Option('--indirect-selection <mode>', 'which tests of selected nodes run: eager (any parent selected), cautious (all parents), buildable (parents selected or upstream), empty (none)')
      .choices(['eager', 'cautious', 'buildable', 'empty']));
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('kiln')
    .description('Kiln: SQL models, templated and built in dependency order in your warehouse (dbt-project compatible).')
    .version(KILN_VERSION, '-v, --version')
    .showHelpAfterError('(run kiln --help for usage)')
    .exitOverride();

  const action = (name: string, extra: (cmd: Command) => Command = (c) => c, selection = true) => {
    const cmd = extra(withCommonOptions(program.command(name), selection));
    cmd.action(async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const flags = command.opts() as GlobalFlags & { models?: string[] };
      if (flags.models) flags.select = [...(flags.select ?? []), ...flags.models];
      setExit(await commands[name](flags, command.args, command.opts()));
    });
    return cmd;
  };

  action('debug', (c) => c.description('show the project, profile and target in use, and test the connection'), false);
  action('parse', (c) => c.description('read the project, check it, and write target/manifest.json'), false);
  action('compile', (c) => c.description('render selected models to SQL in target/compiled/ (prints it when one is selected)').option('--inline <sql>', 'compile this SQL instead of project nodes'));
  action('run', (c) => eventTimeOptions(c.description('build the selected models').option('--full-refresh', 'rebuild incremental models from scratch').option('-x, --fail-fast', 'stop at the first failure')));
  action('seed', (c) => c.description('load seed CSVs into tables').option('--full-refresh', 'accepted for dbt compatibility (seeds always fully reload)').option('-x, --fail-fast', 'stop at the first failure'));
  action('build', (c) => eventTimeOptions(testOptions(c.description('load seeds, build models and run their tests, in one DAG order (a failing test skips what is downstream)').option('--full-refresh', 'rebuild incremental models from scratch').option('-x, --fail-fast', 'stop at the first failure'))));
  action('retry', (c) => c.description('rerun what failed or was skipped in the previous run, with its options (a microbatch model: only its failed batches)'), false);
  action('snapshot', (c) => c.description('run the selected snapshots: record changed rows of their queries as history (SCD type 2)').option('--full-refresh', 'accepted for dbt compatibility (snapshots are never rebuilt)').option('-x, --fail-fast', 'stop at the first failure'));
  action('test', (c) => testOptions(c.description('run the selected data tests and unit tests').option('-x, --fail-fast', 'stop at the first failure')));
  action('ls', (c) => c
    .alias('list')
    .description('list the selected resources')
    .addOption(new Option('--output <format>', 'what to print per node').choices(['name', 'path', 'json', 'selector']).default('selector'))
    .option('--resource-type <type...>', 'only these resource types (model, seed, source, analysis, test, unit_test)')
    .option('--output-keys <keys...>', 'keys to print with --output json'));
  action('show', (c) => c
    .description("run a model's SQL (or --inline SQL) and print the first rows")
    .option('--inline <sql>', 'SQL to run (may use ref, source and macros)')
    .option('--limit <n>', 'rows to show', '5'));

  program
    .command('init [dir]')
    .description('create a new Kiln project')
    .option('--name <name>', 'project name (default: the directory name)')
    .action(async (dir: string | undefined, opts: { name?: string }) => {
      setExit(await commands.init({ projectDir: dir ?? '.', logFormat: 'text', partialParse: true }, [dir ?? '.'], opts));
    });
  program
    .command('clean')
    .description("delete the project's clean-targets (target/ by default)")
    .option('--project-dir <dir>', 'project directory', '.')
    .action(async (opts: { projectDir: string }) => {
      setExit(await commands.clean({ projectDir: opts.projectDir, logFormat: 'text', partialParse: true }, [], {}));
    });
  return program;
}

/** Run the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((c) => (exitCode = c));
  const format: LogFormat = argv.includes('json') && argv.some((a) => a.startsWith('--log-format')) ? 'json' : 'text';
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof KilnError) {
      printFatal(format, e);
      return e.exitCode;
    }
    process.stderr.write(`internal error: ${(e as Error).stack ?? String(e)}\nThis is a bug in Kiln; please report it with the command you ran.\n`);
    return 3;
  }
}
