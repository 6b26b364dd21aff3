/**
 * Seed load benchmark on Postgres: a 1,000,000-row CSV loaded by Kiln against `psql \copy` of the same file
 * (the physical reference), reported as rows/s, median of --reps runs. Figures, not assertions.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/seed-load.js --url postgres://kiln@127.0.0.1:5432/postgres [--rows 1000000] [--reps 3]
 *
 * (Any PostgreSQL on 127.0.0.1 will do; `npx vitest run test/e2e/postgres-cancel.test.ts` shows how the test
 * setup starts a throwaway one, test/pg/globalSetup.ts.) Three loaders, each into a fresh table:
 *   psql \copy      psql's client-side COPY FROM of the file
 *   kiln loadSeed   the adapter's COPY FROM STDIN stream alone (create table, then load)
 *   kiln seed       the whole CLI command: project load, CSV type inference, swap, load
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { postgresAdapterFactory } from '../adapters/postgres/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = join(REPO, 'bench', 'out', 'seed-load');

const { values } = parseArgs({ options: { url: { type: 'string' }, rows: { type: 'string', default: '1000000' }, reps: { type: 'string', default: '3' } } });
if (!values.url) {
  console.error('usage: node dist/bench/seed-load.js --url postgres://user@127.0.0.1:port/db [--rows N] [--reps N]');
  process.exit(2);
}
const url = new URL(values.url);
if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error('the benchmark only runs against 127.0.0.1');
const ROWS = Number(values.rows);
const REPS = Number(values.reps);
const SCHEMA = 'kiln_bench_seed';
const COLUMNS = '"id" bigint, "name" text, "amount" numeric, "day" date, "at" timestamp, "flag" boolean';

async function writeCsv(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const write = (s: string) => new Promise<void>((r) => (out.write(s) ? r() : out.once('drain', () => r())));
  await write('id,name,amount,day,at,flag\n');
  let chunk = '';
  for (let i = 1; i <= ROWS; i++) {
    const name = i % 10 === 0 ? `"Name ${i}, with ""quotes"""` : `name_${i}`;
    const day = `2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`;
    chunk += `${i},${name},${(i % 100000) / 100},${day},${day} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00,${i % 2 === 0}\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((r) => out.end(() => r()));
}

function psql(sql: string): void {
  const r = spawnSync('psql', [values.url!, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const project = join(OUT, 'project');
  const csv = join(project, 'seeds', 'big.csv');
  if (!existsSync(csv)) {
    const t = performance.now();
    await writeCsv(csv);
    console.log(`wrote ${ROWS} rows to ${csv} in ${((performance.now() - t) / 1000).toFixed(1)}s`);
  }
  psql(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);

  const times: Record<string, number[]> = { 'psql \\copy': [], 'kiln loadSeed': [], 'kiln seed': [] };
  const fields = { type: 'postgres', host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username), dbname: url.pathname.slice(1), schema: SCHEMA, sslmode: 'disable' };
  const config = postgresAdapterFactory.validateTarget(fields, { file: 'profiles.yml' }, { dir: project, name: 'bench' });
  const adapter = await postgresAdapterFactory.open(config, { threads: 1, projectDir: project, projectName: 'bench' });
  writeFileSync(join(project, 'kiln_project.yml'), 'name: bench\nprofile: bench\n');
  writeFileSync(join(project, 'profiles.yml'), `bench:\n  target: dev\n  outputs:\n    dev:\n${Object.entries(fields).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n')}\n`);

  for (let rep = 0; rep < REPS; rep++) {
    psql(`drop table if exists ${SCHEMA}.psql_copy; create table ${SCHEMA}.psql_copy (${COLUMNS})`);
    let t = performance.now();
    psql(`\\copy ${SCHEMA}.psql_copy from '${csv}' with (format csv, header true)`);
    times['psql \\copy'].push((performance.now() - t) / 1000);

    psql(`drop table if exists ${SCHEMA}.kiln_load; create table ${SCHEMA}.kiln_load (${COLUMNS})`);
    t = performance.now();
    await adapter.withConnection((conn) => adapter.loadSeed(conn, { schema: SCHEMA, identifier: 'kiln_load' }, {
      path: csv, delimiter: ',', rowCount: ROWS, quoteColumns: true,
      columns: ['id', 'name', 'amount', 'day', 'at', 'flag'].map((name) => ({ name, type: 'text', nativeType: '' })),
    }));
    times['kiln loadSeed'].push((performance.now() - t) / 1000);

    t = performance.now();
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'kiln.js'), 'seed', '--profiles-dir', project], { cwd: project, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kiln seed failed:\n${r.stdout}${r.stderr}`);
    times['kiln seed'].push((performance.now() - t) / 1000);
  }
  await adapter.close();
  psql(`drop schema if exists ${SCHEMA} cascade`);

  const ref = median(times['psql \\copy']);
  console.log(`\n${ROWS} rows, median of ${REPS}:`);
  console.log('loader          seconds    rows/s     vs psql \\copy');
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs);
    console.log(`${name.padEnd(15)} ${m.toFixed(2).padStart(7)}  ${Math.round(ROWS / m).toString().padStart(9)}   ${(m / ref).toFixed(2)}×   (runs: ${xs.map((x) => x.toFixed(2)).join(', ')})`);
  }
}

await main();
