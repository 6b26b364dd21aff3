/**
 * Relation names the warehouse would refuse, found before anything runs (`kiln compile` included): Postgres
 * keeps 63 bytes of a name, Redshift 127. The adapter's DDL checks again; this check names the model and
 * its file at once instead of failing half-way through a run.
 */
import type { Adapter } from '../adapter.js';
import { KilnError } from '../errors.js';
import type { GraphNode } from '../project/nodes.js';

export function checkRelationNames(nodes: Iterable<GraphNode>, adapter: Adapter): void {
  const max = adapter.capabilities.maxIdentifierLength;
  for (const node of nodes) {
    const built = node.resourceType === 'seed' || node.resourceType === 'snapshot'
      || (node.resourceType === 'model' && node.config.materialized !== 'ephemeral');
    if (!built) continue;
    for (const [what, name] of [['relation name', node.relation.identifier], ['schema name', node.relation.schema]] as const) {
      const bytes = Buffer.byteLength(name);
      if (bytes <= max) continue;
      throw new KilnError('compile', `${node.resourceType} '${node.name}' has the ${what} '${name}', ${bytes} bytes long; ${adapter.type} allows at most ${max}`, {
        location: { file: node.originalFilePath },
        node: node.uniqueId,
        hint: what === 'relation name' ? 'Set a shorter alias in its config, or rename the file.' : 'Set a shorter schema in its config or target.',
      });
    }
  }
}
