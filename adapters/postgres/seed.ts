/**
 * Seed loading on Postgres (and Redshift-compatible servers that speak COPY FROM STDIN): the CSV file is
 * streamed as it is into `COPY … FROM STDIN (FORMAT csv)`, so values never pass through SQL text and rows
 * are not sent one INSERT at a time. On the way, a byte-level pass drops a UTF-8 BOM and blank lines
 * outside quoted fields (Kiln's CSV reader skips them; COPY would read them as rows). Empty unquoted cells
 * load as NULL, as Kiln's type inference assumes.
 *
 * @example
 * await loadPostgresSeed(conn, rel, { path: '/p/seeds/orders.csv', delimiter: ',', columns, quoteColumns: true, rowCount: 3 })
 */
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { AdapterResponse, Connection, RelationRef, SeedLoad } from '../../src/adapter.js';
import { describePgError, PgSession } from './connection.js';
import { columnName, postgresLiteral, renderPostgresRelation } from './ddl.js';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Removes a leading BOM and empty lines (outside quotes); everything else passes byte for byte. */
export class CsvCleaner extends Transform {
  private inQuote = false;
  /** Nothing of the current line has been passed on yet. */
  private lineStart = true;
  private first = true;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let buf = chunk;
    if (this.first) {
      this.first = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    let out: Buffer[] | undefined;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i];
      if (this.inQuote) {
        // `""` inside a quoted field leaves and re-enters: the state stays right.
        if (b === QUOTE) this.inQuote = false;
      } else if (b === LF || b === CR) {
        if (this.lineStart) {
          // A byte of a blank line: cut it out.
          (out ??= []).push(buf.subarray(start, i));
          start = i + 1;
        } else if (b === LF) {
          this.lineStart = true;
        }
      } else {
        if (b === QUOTE) this.inQuote = true;
        this.lineStart = false;
      }
    }
    if (!out) return done(null, buf);
    out.push(buf.subarray(start));
    done(null, Buffer.concat(out));
  }
}

export async function loadPostgresSeed(conn: Connection, rel: RelationRef, seed: SeedLoad): Promise<AdapterResponse> {
  if (!(conn instanceof PgSession)) throw new Error('loadSeed needs a connection of the postgres adapter');
  if ([...seed.delimiter].length !== 1) throw new Error(`a seed delimiter must be one character for COPY, not '${seed.delimiter}'`);
  const columns = seed.columns.map((c) => columnName(c, seed.quoteColumns)).join(', ');
  const sql = `copy ${renderPostgresRelation(rel)} (${columns}) from stdin with (format csv, header true, delimiter ${postgresLiteral(seed.delimiter)}, quote '"', escape '"')`;
  const copy = conn.client.query(copyFrom(sql));
  try {
    await pipeline(createReadStream(seed.path, { highWaterMark: 1 << 20 }), new CsvCleaner(), copy);
  } catch (e) {
    throw describePgError(e, sql);
  }
  const rows = Number(copy.rowCount ?? seed.rowCount);
  return { message: `COPY ${rows}`, code: 'COPY', rowsAffected: rows };
}
