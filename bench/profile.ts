/**
 * Summarize a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time, and the
 * project functions with the most total (inclusive) time, each with file:line. Lines in dist/*.js are
 * mapped back to the TypeScript source through the emitted source maps, so the lead can jump straight to
 * src/….ts.
 *
 *   node dist/bench/profile.js PROFILE.cpuprofile [--top 25]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based. */
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  /** Samples per source line (1-based) of this function, when V8 recorded them. */
  positionTicks?: { line: number; ticks: number }[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between consecutive samples; timeDeltas[i] precedes samples[i]. */
  timeDeltas: number[];
}

export interface FunctionCost {
  /** `name (file:line)`, with the file relative to the repository. */
  where: string;
  selfMs: number;
  totalMs: number;
  /** For self time: the lines inside the function that took it (`file:line` → share of its samples). */
  hotLines?: { line: string; share: number }[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Highest self time first. */
  bySelf: FunctionCost[];
  /** Kiln's own functions (src/, adapters/), highest inclusive time first. */
  byTotal: FunctionCost[];
  /** Self time per file or package (nunjucks, yaml, node internals …). */
  byFile: { file: string; selfMs: number }[];
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** dist/…/x.js line → src/…/x.ts line, through the .js.map next to it (cached per file). */
class SourceMapper {
  private readonly maps = new Map<string, SourceMap | null>();

  /**
   * A whole generated line: the column is past its end, so the entry found is the line's last mapping,
   * which is on the right original line (column 0 would fall back to the previous line's last mapping).
   */
  locateLine(url: string, line0: number): { file: string; line: number } {
    return this.locate(url, line0, 1e6);
  }

  locate(url: string, line0: number, col0: number): { file: string; line: number } {
    if (!url.startsWith('file://')) return { file: url || '(native)', line: line0 + 1 };
    const path = fileURLToPath(url);
    const map = this.mapFor(path);
    if (map) {
      const e = map.findEntry(line0, col0) as Partial<{ originalSource: string; originalLine: number }>;
      if (e.originalSource !== undefined && e.originalLine !== undefined) {
        const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : resolve(dirname(path), e.originalSource);
        return { file: relative(REPO, src), line: e.originalLine + 1 };
      }
    }
    return { file: relative(REPO, path), line: line0 + 1 };
  }

  private mapFor(path: string): SourceMap | null {
    let m = this.maps.get(path);
    if (m === undefined) {
      const mapPath = `${path}.map`;
      m = existsSync(mapPath) ? new SourceMap(JSON.parse(readFileSync(mapPath, 'utf8')) as SourceMapPayload) : null;
      this.maps.set(path, m);
    }
    return m;
  }
}

/** Group node_modules files by package, so "where does library time go" reads at a glance. */
function fileGroup(file: string): string {
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return file;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const mapper = new SourceMapper();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const keyOf = new Map<number, string>();
  const fileOf = new Map<number, string>();
  for (const n of prof.nodes) {
    const cf = n.callFrame;
    const loc = mapper.locate(cf.url, cf.lineNumber, cf.columnNumber);
    keyOf.set(n.id, `${cf.functionName || '(anonymous)'} (${loc.file}:${loc.line})`);
    fileOf.set(n.id, fileGroup(loc.file));
  }

  // Per-line ticks of each function (summed over its profile nodes), for "which line of it is hot".
  const lineTicks = new Map<string, Map<string, number>>();
  for (const n of prof.nodes) {
    const key = keyOf.get(n.id)!;
    // Native frames have no script, so their line numbers mean nothing.
    if (!n.callFrame.url) continue;
    for (const pt of n.positionTicks ?? []) {
      const loc = mapper.locateLine(n.callFrame.url, pt.line - 1);
      const lines = lineTicks.get(key) ?? new Map<string, number>();
      const where = `${loc.file}:${loc.line}`;
      lines.set(where, (lines.get(where) ?? 0) + pt.ticks);
      lineTicks.set(key, lines);
    }
  }
  const hotLines = (key: string) => {
    const lines = [...(lineTicks.get(key) ?? new Map<string, number>())];
    const sum = lines.reduce((a, [, t]) => a + t, 0);
    return lines.sort((a, b) => b[1] - a[1]).slice(0, 3).map(([line, t]) => ({ line, share: t / sum }));
  };

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const perFile = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    // A sample stands for the interval up to the next one.
    const us = prof.timeDeltas[i + 1] ?? 0;
    totalUs += us;
    const id = prof.samples[i];
    const key = keyOf.get(id)!;
    self.set(key, (self.get(key) ?? 0) + us);
    perFile.set(fileOf.get(id)!, (perFile.get(fileOf.get(id)!) ?? 0) + us);
    // Inclusive time: count each function once per sample even when it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = keyOf.get(cur)!;
      if (!seen.has(k)) {
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + us);
      }
    }
  }
  const cost = (where: string): FunctionCost => ({ where, selfMs: (self.get(where) ?? 0) / 1000, totalMs: (total.get(where) ?? 0) / 1000 });
  const isOwn = (where: string) => / \((src|adapters)\//.test(where);
  return {
    file,
    totalMs: totalUs / 1000,
    bySelf: [...self.keys()].map(cost).sort((a, b) => b.selfMs - a.selfMs).slice(0, top).map((c) => ({ ...c, hotLines: hotLines(c.where) })),
    byTotal: [...total.keys()].filter(isOwn).map(cost).sort((a, b) => b.totalMs - a.totalMs).slice(0, top),
    byFile: [...perFile].map(([f, us]) => ({ file: f, selfMs: us / 1000 })).sort((a, b) => b.selfMs - a.selfMs).slice(0, 12),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
  const row = (ms: number, label: string) => `  ${ms.toFixed(0).padStart(7)} ms ${pct(ms)}  ${label}`;
  return [
    `${relative(process.cwd(), s.file)}: ${s.totalMs.toFixed(0)} ms sampled`,
    'Top self time:',
    ...s.bySelf.map((c) => {
      const hot = (c.hotLines ?? []).filter((h) => h.share >= 0.1).map((h) => `${h.line} ${(100 * h.share).toFixed(0)}%`);
      return row(c.selfMs, c.where) + (hot.length ? `  [hot: ${hot.join(', ')}]` : '');
    }),
    'Top inclusive time (Kiln code):',
    ...s.byTotal.map((c) => row(c.totalMs, c.where)),
    'Self time by file/package:',
    ...s.byFile.map((f) => row(f.selfMs, f.file)),
  ].join('\n');
}

function cli(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/profile.js PROFILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  for (const p of positionals) process.stdout.write(`${formatSummary(summarizeProfile(p, Number(values.top ?? 25)))}\n\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) cli();
