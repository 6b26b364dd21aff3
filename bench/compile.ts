/**
 * Parse/compile benchmark: generates synthetic projects (bench/gen.ts) and times the kiln CLI on them.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/compile.js [--sizes 1000,10000] [--reps 3] [--seed 42]
 *                                                          [--profile never|missed|always] [--smoke 50]
 *
 * For each size N, every measurement runs in a fresh child process (node dist/bench/child.js, which runs
 * the real CLI and reports peak RSS from getrusage) so module loading, JIT warm-up and GC are paid exactly
 * as a user pays them, and one run's heap cannot flatter the next:
 *   parse-cold         kiln parse --no-partial-parse            (target/ deleted first)
 *   compile-cold       kiln compile                             (no target/, as in a fresh checkout: no parse cache)
 *   compile-after-clean kiln compile                            (target/ deleted just before: see TRASH)
 *   compile-warm       kiln compile                             (right after a compile; no change)
 *   compile-warm-edit  kiln compile                             (right after a compile; one model edited)
 *   compile-warm-vars  kiln compile --vars '{bench_threshold: …}' (right after a compile; ~10% of models read that var)
 * Each is repeated --reps times and the median reported. "Cold" means no Kiln cache; the OS file cache is
 * warm (the project was just written), as it is for a developer re-running a command.
 *
 * First, `kiln build` runs on a small generated project (--smoke N, 0 to skip) to prove the generated SQL
 * is valid. Then it prints a table, checks the issue's targets (10k models: cold parse+compile < 5 s, warm < 1 s, peak RSS
 * < 1 GiB), CPU-profiles the phases of sizes that miss them, and writes bench/out/compile-<date>.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildReport } from './child.js';
import { generateProject, type GenSummary } from './gen.js';
import { formatSummary, summarizeProfile, type ProfileSummary } from './profile.js';

/** dist/bench/compile.js → the repository root (where bin/, dist/ and bench/ live). */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(REPO, 'dist', 'bench', 'child.js');
const OUT = join(REPO, 'bench', 'out');

const TARGETS = { coldS: 5, warmS: 1, rssMiB: 1024 };
/** A value different from the project's `bench_threshold: 500`, so the models that read it re-parse. */
const CHANGED_VARS = '{bench_threshold: 777}';

type PhaseName = 'parse-cold' | 'compile-cold' | 'compile-after-clean' | 'compile-warm' | 'compile-warm-edit' | 'compile-warm-vars';

interface Phase {
  name: PhaseName;
  label: string;
  args: string[];
  /** Bring target/ to the state this measurement starts from. */
  prepare: (project: ProjectPaths) => void;
  /** Undo what prepare changed in the project (not in target/). */
  finish?: (project: ProjectPaths) => void;
}

interface ProjectPaths {
  dir: string;
  target: string;
  /** The model file the edit phase changes, and its content. */
  edited: { file: string; content: string };
}



interface Sample {
  wallMs: number;
  maxRssMiB: number;
  cpuMs: number;
  exitCode: number;
  /** What kiln itself printed: "Parsed in Xs" / "Compiled N nodes in Xs" / "parse cache: H hits, M misses". */
  kilnParseS?: number;
  kilnCompileS?: number;
  compiledNodes?: number;
  cacheHits?: number;
  cacheMisses?: number;
}

interface PhaseResult {
  phase: PhaseName;
  label: string;
  command: string;
  runs: Sample[];
  median: Sample;
}

interface SizeResult {
  models: number;
  project: GenSummary;
  generateMs: number;
  phases: PhaseResult[];
  targets: { check: string; value: number; limit: number; ok: boolean }[];
  profiles: ProfileSummary[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function medianSample(runs: Sample[]): Sample {
  const pick = (f: (s: Sample) => number | undefined): number | undefined => {
    const xs = runs.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  return {
    wallMs: pick((s) => s.wallMs)!,
    maxRssMiB: pick((s) => s.maxRssMiB)!,
    cpuMs: pick((s) => s.cpuMs)!,
    exitCode: Math.max(...runs.map((r) => r.exitCode)),
    kilnParseS: pick((s) => s.kilnParseS),
    kilnCompileS: pick((s) => s.kilnCompileS),
    compiledNodes: pick((s) => s.compiledNodes),
    cacheHits: pick((s) => s.cacheHits),
    cacheMisses: pick((s) => s.cacheMisses),
  };
}

function num(m: RegExpMatchArray | null, i = 1): number | undefined {
  return m ? Number(m[i]) : undefined;
}

/** One fresh `node dist/bench/child.js <kiln args>`; `nodeFlags` (e.g. --cpu-prof) go to node itself. */
function runKiln(args: string[], nodeFlags: string[] = []): Sample {
  const reportPath = join(OUT, `.child-report-${process.pid}.json`);
  rmSync(reportPath, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_BENCH_REPORT: reportPath, NO_COLOR: '1' };
  // --profiles-dir is always passed; these would otherwise not matter, but keep the child's view minimal.
  delete env.KILN_PROFILES_DIR;
  delete env.DBT_PROFILES_DIR;
  const started = performance.now();
  const res = spawnSync(process.execPath, [...nodeFlags, CHILD, ...args], { env, encoding: 'utf8', maxBuffer: 256 * 2 ** 20, timeout: 15 * 60_000 });
  const wallMs = performance.now() - started;
  if (res.error) throw res.error;
  if (res.status !== 0 || !existsSync(reportPath)) {
    throw new Error(`kiln ${args.join(' ')} failed (exit ${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`.slice(0, 4000));
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as ChildReport;
  rmSync(reportPath, { force: true });
  const out = res.stdout;
  const compiled = out.match(/Compiled (\d+) nodes? in ([\d.]+)s/);
  const cache = out.match(/parse cache: (\d+) hits, (\d+) misses/);
  return {
    wallMs,
    maxRssMiB: report.maxRssKb / 1024,
    cpuMs: report.userMs + report.systemMs,
    exitCode: report.exitCode,
    kilnParseS: num(out.match(/Parsed in ([\d.]+)s/)),
    kilnCompileS: num(compiled, 2),
    compiledNodes: num(compiled, 1),
    cacheHits: num(cache, 1),
    cacheMisses: num(cache, 2),
  };
}

/**
 * Where target/ folders go instead of being deleted (emptied when the bench ends). On this machine's ext4,
 * creating files within a minute or so of deleting many costs far more kernel time: the inode allocator
 * passes over every recently freed inode (`recently_deleted()` in ext4's ialloc.c; 30,000 creates took
 * 0.3–0.8 s in fresh space and 1.5–4.7 s right after a 30,000-file delete). "Cold" is a fresh checkout, so
 * its target/ is moved aside; compile-after-clean measures the delete-then-compile case on its own.
 */
const TRASH = join(OUT, 'trash');
let trashed = 0;

function moveToTrash(dir: string): void {
  if (!existsSync(dir)) return;
  mkdirSync(TRASH, { recursive: true });
  renameSync(dir, join(TRASH, `${process.pid}-${++trashed}`));
}

function phases(): Phase[] {
  const clean = (p: ProjectPaths) => moveToTrash(p.target);
  const remove = (p: ProjectPaths) => rmSync(p.target, { recursive: true, force: true });
  // After a measured run that changed something, an unmeasured compile of the unchanged project brings
  // target/ back to "compiled, nothing changed since" — as a developer's next edit finds it. (Copying
  // target/'s files back would change manifest.json's mtime, which Kiln rightly takes for someone else's.)
  const settle = (p: ProjectPaths) => runKiln(['compile', ...commonArgs(p)]);
  let edits = 0;
  return [
    { name: 'parse-cold', label: 'parse, no cache (--no-partial-parse)', args: ['parse', '--no-partial-parse'], prepare: clean },
    { name: 'compile-cold', label: 'compile, cold (no target/)', args: ['compile'], prepare: clean },
    { name: 'compile-after-clean', label: 'compile, just after deleting target/', args: ['compile'], prepare: remove },
    { name: 'compile-warm', label: 'compile, warm (no change)', args: ['compile'], prepare: () => undefined },
    {
      name: 'compile-warm-edit', label: 'compile, warm, one model edited', args: ['compile'],
      prepare: (p) => writeFileSync(p.edited.file, `${p.edited.content}\n-- bench edit ${++edits}\n`),
      finish: (p) => {
        writeFileSync(p.edited.file, p.edited.content);
        settle(p);
      },
    },
    { name: 'compile-warm-vars', label: `compile, warm, --vars '${CHANGED_VARS}'`, args: ['compile', '--vars', CHANGED_VARS], prepare: () => undefined, finish: settle },
  ];
}

function commonArgs(p: ProjectPaths): string[] {
  // --debug only adds the "parse cache: H hits, M misses" line, which shows the warm runs really are warm.
  return ['--project-dir', p.dir, '--profiles-dir', p.dir, '--debug'];
}

function measureSize(models: number, reps: number, seed: number, profileMode: string): SizeResult {
  const genStarted = performance.now();
  const project = generateProject({ models, out: join(OUT, 'projects', `n${models}`), seed, discard: moveToTrash });
  const generateMs = performance.now() - genStarted;
  const editedFile = join(project.dir, 'models', readdirSync(join(project.dir, 'models')).filter((d) => !d.includes('.')).sort()[0]);
  const firstModel = join(editedFile, readdirSync(editedFile).filter((f) => f.endsWith('.sql')).sort()[0]);
  const paths: ProjectPaths = {
    dir: project.dir,
    target: join(project.dir, 'target'),
    edited: { file: firstModel, content: readFileSync(firstModel, 'utf8') },
  };
  log(`N=${models}: generated ${project.files} files in ${(generateMs / 1000).toFixed(1)}s (${relative(REPO, project.dir)})`);

  const results: PhaseResult[] = [];
  for (const phase of phases()) {
    const runs: Sample[] = [];
    for (let r = 0; r < reps; r++) {
      phase.prepare(paths);
      let s: Sample;
      try {
        s = runKiln([...phase.args, ...commonArgs(paths)]);
      } finally {
        phase.finish?.(paths);
      }
      runs.push(s);
      log(`  ${phase.name} #${r + 1}: ${(s.wallMs / 1000).toFixed(2)}s, ${s.maxRssMiB.toFixed(0)} MiB`);
    }
    const command = `kiln ${[...phase.args].map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
    results.push({ phase: phase.name, label: phase.label, command, runs, median: medianSample(runs) });
  }

  const med = (name: PhaseName) => results.find((r) => r.phase === name)!.median;
  const peak = Math.max(...results.map((r) => r.median.maxRssMiB));
  const targets = [
    { check: 'cold parse+compile (compile-cold) < 5 s', value: med('compile-cold').wallMs / 1000, limit: TARGETS.coldS },
    { check: 'warm compile (compile-warm) < 1 s', value: med('compile-warm').wallMs / 1000, limit: TARGETS.warmS },
    { check: 'peak RSS (any phase) < 1 GiB', value: peak, limit: TARGETS.rssMiB },
  ].map((t) => ({ ...t, ok: t.value < t.limit }));

  const profiles: ProfileSummary[] = [];
  if (profileMode === 'always' || (profileMode === 'missed' && targets.some((t) => !t.ok))) {
    for (const phase of phases()) profiles.push(profilePhase(phase, paths, models));
  }
  return { models, project, generateMs, phases: results, targets, profiles };
}

/** One extra run under `node --cpu-prof`, summarized (profiling slows the run, so it is not timed). */
function profilePhase(phase: Phase, paths: ProjectPaths, models: number): ProfileSummary {
  const dir = join(OUT, 'profiles', `n${models}-${phase.name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  phase.prepare(paths);
  try {
    runKiln([...phase.args, ...commonArgs(paths)], ['--cpu-prof', '--cpu-prof-dir', dir]);
  } finally {
    phase.finish?.(paths);
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  const summary = summarizeProfile(join(dir, file), 20);
  log(`\n== profile N=${models} ${phase.name} ==\n${formatSummary(summary)}`);
  return summary;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function table(sizes: SizeResult[]): string {
  const head = ['models', 'measurement', 'wall s (median)', 'min–max s', 'peak RSS MiB', 'CPU s', 'kiln says', 'parse cache'];
  const rows: string[][] = [];
  for (const s of sizes) {
    for (const p of s.phases) {
      const m = p.median;
      const walls = p.runs.map((r) => r.wallMs / 1000);
      const says = [m.kilnParseS !== undefined ? `parsed ${m.kilnParseS.toFixed(2)}s` : '', m.kilnCompileS !== undefined ? `compiled ${m.compiledNodes} in ${m.kilnCompileS.toFixed(2)}s` : ''].filter(Boolean).join('; ');
      rows.push([
        String(s.models), p.label, (m.wallMs / 1000).toFixed(2), `${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)}`,
        m.maxRssMiB.toFixed(0), (m.cpuMs / 1000).toFixed(2), says || '-',
        m.cacheHits !== undefined ? `${m.cacheHits} hit / ${m.cacheMisses} miss` : '-',
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 || (i >= 2 && i <= 5) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const lines = [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)];
  for (const s of sizes) {
    for (const t of s.targets) lines.push(`N=${s.models}: ${t.ok ? 'PASS' : 'MISS'}  ${t.check}: ${t.value.toFixed(t.limit > 100 ? 0 : 2)}`);
  }
  return lines.join('\n');
}

/**
 * `kiln build` on a small generated project before timing anything: the timings only mean something if
 * the generated models are valid SQL that DuckDB runs, and this catches a generator regression early.
 */
function smokeBuild(models: number, seed: number): string {
  const project = generateProject({ models, out: join(OUT, 'projects', `smoke-n${models}`), seed });
  rmSync(join(project.dir, 'target'), { recursive: true, force: true });
  const reportPath = join(OUT, `.child-report-${process.pid}.json`);
  const res = spawnSync(process.execPath, [CHILD, 'build', '--project-dir', project.dir, '--profiles-dir', project.dir], {
    env: { ...process.env, KILN_BENCH_REPORT: reportPath, NO_COLOR: '1' }, encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
  });
  rmSync(reportPath, { force: true });
  const summary = res.stdout.match(/PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+ TOTAL=\d+/)?.[0] ?? '(no summary line)';
  if (res.status !== 0) throw new Error(`smoke: kiln build failed on the N=${models} project (exit ${res.status}): ${summary}\n${res.stdout.slice(-3000)}\n${res.stderr.slice(-2000)}`);
  log(`smoke: kiln build on N=${models}: OK, ${summary}`);
  return summary;
}

function gitCommit(): string | undefined {
  // Read-only: which commit was measured.
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000' },
      reps: { type: 'string', default: '3' },
      seed: { type: 'string', default: '42' },
      profile: { type: 'string', default: 'missed' },
      smoke: { type: 'string', default: '50' },
    },
  });
  const sizes = values.sizes.split(',').map((s) => Number(s.trim()));
  const reps = Number(values.reps);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(reps) || reps < 1) {
    throw new Error('--sizes takes positive whole numbers (1000,10000); --reps a positive whole number');
  }
  if (!['never', 'missed', 'always'].includes(values.profile)) throw new Error('--profile is never, missed or always');
  if (!existsSync(CHILD)) throw new Error(`${CHILD} is missing: build first (npx tsc -p tsconfig.json)`);
  mkdirSync(OUT, { recursive: true });

  const smokeModels = Number(values.smoke);
  const smoke = smokeModels > 0 ? smokeBuild(smokeModels, Number(values.seed)) : undefined;
  let results: SizeResult[];
  try {
    results = sizes.map((n) => measureSize(n, reps, Number(values.seed), values.profile));
  } finally {
    rmSync(TRASH, { recursive: true, force: true });
  }
  process.stdout.write(`\n${table(results)}\n`);

  const date = new Date().toISOString().slice(0, 10);
  const file = join(OUT, `compile-${date}.json`);
  const doc = {
    generatedAt: new Date().toISOString(),
    commit: gitCommit(),
    machine: { node: process.version, platform: process.platform, cpus: cpus().length, cpuModel: cpus()[0]?.model, totalMemMiB: Math.round(totalmem() / 2 ** 20) },
    reps,
    seed: Number(values.seed),
    targets: TARGETS,
    smokeBuild: smoke === undefined ? null : { models: smokeModels, result: smoke },
    sizes: results,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`wrote ${relative(process.cwd(), file)}\n`);
}

main();
