/** `kiln show`: run compiled SQL with a row limit and return the rows. */
import type { QueryResult } from '../adapter.js';
import { KilnError, errorMessage } from '../errors.js';
import type { Invocation } from './invocation.js';

export async function showQuery(inv: Invocation, sql: string, limit: number): Promise<QueryResult> {
  const wh = await inv.openWarehouse();
  const body = sql.trim().replace(/;\s*$/, '');
  const wrapped = `select * from (\n${body}\n) as kiln_show limit ${limit}`;
  try {
    return await wh.adapter.withConnection((c) => c.execute(wrapped));
  } catch (e) {
    throw new KilnError('database', `the query failed in ${wh.adapter.type}: ${inv.redactor.scrub(errorMessage(e)).split('\n')[0]}`, {
      hint: 'Check the SQL; for a model, `kiln compile -s <model>` prints what was sent.',
    });
  }
}
