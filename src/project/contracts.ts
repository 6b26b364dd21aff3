/**
 * Model contracts as configured: whether `contract: {enforced: true}` is on, and the `constraints:` of a
 * model and its columns read from schema YAML into checked shapes. Nothing here talks to a warehouse; the
 * run step (run/contracts.ts) compares columns and writes the DDL.
 *
 * @example
 * # models/schema.yml
 * models:
 *   - name: orders
 *     config: { contract: { enforced: true } }
 *     columns:
 *       - name: id
 *         data_type: int
 *         constraints: [{ type: not_null }, { type: primary_key }]
 *     constraints:
 *       - { type: check, expression: "id > 0", name: positive_id }
 */
import type { ConstraintType } from '../adapter.js';
import { KilnError, type SourceLocation } from '../errors.js';
import { closeMatches } from '../suggest.js';
import type { SqlNode } from './nodes.js';
import { isPlainObject } from './yamlFile.js';

export const CONSTRAINT_TYPES: readonly ConstraintType[] = ['not_null', 'unique', 'primary_key', 'foreign_key', 'check', 'custom'];

/** One constraint as written under a column's or a model's `constraints:`, checked. */
export interface ConstraintSpec {
  type: ConstraintType;
  name?: string;
  /** SQL text: the check's condition, a custom clause, a foreign key's `other_table (id)`, or extra words. */
  expression?: string;
  /** Model-level constraints: the columns it covers, as written. */
  columns?: string[];
  /** foreign_key (dbt 1.9 form): `ref('customers')`, `source('raw', 'customers')` or a relation name. */
  to?: string;
  toColumns?: string[];
  /** Warn when the warehouse does not enforce / does not support this type (default true). */
  warnUnenforced: boolean;
  warnUnsupported: boolean;
}

/** A model-level constraint (its `columns` are set for every type except check and custom). */
export type ModelConstraintSpec = ConstraintSpec;

/** `contract: {enforced: true}` from any config level (YAML config:, config() in the SQL, the project tree). */
export function contractEnforced(config: Record<string, unknown>): boolean {
  const c = config.contract;
  return isPlainObject(c) && c.enforced === true;
}

/** Where a node's contract problems are reported: its schema YAML entry (or a column's) when it has one. */
export function contractLocation(node: SqlNode, column?: string): SourceLocation {
  const col = column === undefined ? undefined : node.columns.find((c) => c.name === column)?.location;
  return col ?? node.patchLocation ?? { file: node.patchPath ?? node.originalFilePath };
}

const CONSTRAINT_KEYS = new Set(['type', 'name', 'expression', 'columns', 'to', 'to_columns', 'warn_unenforced', 'warn_unsupported']);

function stringList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  if (typeof v === 'string') return [v];
  return undefined;
}

/**
 * Check one constraint entry. `where` names it in messages (`column 'id' of model 'orders'`); `modelLevel`
 * allows (and for keys, requires) `columns:`.
 */
export function parseConstraint(raw: unknown, where: string, index: number, node: SqlNode, modelLevel: boolean, column?: string): ConstraintSpec {
  const location = contractLocation(node, column);
  const what = `constraint ${index + 1} of ${where}`;
  const fail = (message: string, hint: string) => new KilnError('config', `${what} ${message}`, { location, node: node.uniqueId, hint });
  if (!isPlainObject(raw)) {
    throw fail('is not a mapping', 'Write each constraint as a mapping, e.g. `- type: not_null` or `- {type: check, expression: "amount >= 0"}`.');
  }
  for (const key of Object.keys(raw)) {
    if (!CONSTRAINT_KEYS.has(key) || (key === 'columns' && !modelLevel)) {
      const close = closeMatches(key, [...CONSTRAINT_KEYS]);
      throw fail(`has an unknown key '${key}'`, close.length && key !== 'columns'
        ? `Did you mean '${close[0]}'?`
        : `A ${modelLevel ? 'model' : 'column'} constraint accepts: ${[...CONSTRAINT_KEYS].filter((k) => modelLevel || k !== 'columns').join(', ')}.`);
    }
  }
  const type = raw.type;
  if (typeof type !== 'string' || !(CONSTRAINT_TYPES as readonly string[]).includes(type)) {
    const close = typeof type === 'string' ? closeMatches(type, CONSTRAINT_TYPES) : [];
    throw fail(type === undefined ? 'has no type' : `has an unknown type '${String(type)}'`,
      close.length ? `Did you mean '${close[0]}'?` : `Constraint types: ${CONSTRAINT_TYPES.join(', ')}.`);
  }
  const text = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw fail(`has a non-text '${key}'`, `Write '${key}' as a string.`);
  };
  const list = (key: string): string[] | undefined => {
    const v = stringList(raw[key]);
    if (raw[key] !== undefined && raw[key] !== null && !v) throw fail(`has a '${key}' that is not a list of names`, `Write '${key}' as a list, e.g. ${key}: [id].`);
    return v;
  };
  const flag = (key: string): boolean => {
    const v = raw[key];
    if (v === undefined || v === null) return true;
    if (typeof v !== 'boolean') throw fail(`has a non-boolean '${key}'`, `Write '${key}: false' to silence the warning.`);
    return v;
  };
  const spec: ConstraintSpec = {
    type: type as ConstraintType,
    name: text('name'),
    expression: text('expression'),
    columns: modelLevel ? list('columns') : undefined,
    to: text('to'),
    toColumns: list('to_columns'),
    warnUnenforced: flag('warn_unenforced'),
    warnUnsupported: flag('warn_unsupported'),
  };
  if ((spec.type === 'check' || spec.type === 'custom') && !spec.expression?.trim()) {
    throw fail(`(${spec.type}) has no expression`, spec.type === 'check'
      ? 'Give the condition to check, e.g. `expression: "amount >= 0"`.'
      : 'Give the constraint\'s SQL as `expression`.');
  }
  if (spec.type === 'foreign_key' && !(spec.to && spec.toColumns?.length) && !spec.expression?.trim()) {
    throw fail('(foreign_key) does not say what it references',
      "Write `to: ref('customers')` with `to_columns: [id]`, or `expression: \"customers (id)\"`.");
  }
  if (spec.to && !spec.toColumns?.length) {
    throw fail(`has 'to' but no 'to_columns'`, 'List the referenced columns, e.g. `to_columns: [id]`.');
  }
  if (modelLevel && ['not_null', 'unique', 'primary_key', 'foreign_key'].includes(spec.type) && !spec.columns?.length) {
    throw fail(`(${spec.type}) names no columns`, `A model-level ${spec.type} needs \`columns: [...]\`; or put it under the column itself.`);
  }
  return spec;
}

/** A contracted model's columns with their checked constraints. */
export interface ContractSpec {
  columns: { name: string; dataType: string; quote?: boolean; constraints: ConstraintSpec[] }[];
  modelConstraints: ConstraintSpec[];
}

/**
 * The contract of a model, checked; undefined when none is enforced. Throws a KilnError naming the schema
 * YAML for what dbt refuses too: an ephemeral model with a contract, no columns, columns without
 * `data_type`, malformed constraints, model-level constraints naming columns the YAML does not declare.
 */
export function contractSpec(node: SqlNode): ContractSpec | undefined {
  if (!contractEnforced(node.config)) return undefined;
  const location = contractLocation(node);
  if (node.config.materialized === 'ephemeral') {
    throw new KilnError('compile', `model '${node.name}' is ephemeral and has an enforced contract`, {
      location: { file: node.originalFilePath },
      node: node.uniqueId,
      hint: 'An ephemeral model is never built, so there is nothing to check against the contract. Materialize it as a '
        + 'table or view, or set contract: {enforced: false}.',
    });
  }
  if (node.columns.length === 0) {
    throw new KilnError('config', `model '${node.name}' has an enforced contract but ${node.patchPath ? 'its YAML entry declares no columns' : 'no schema YAML describes its columns'}`, {
      location,
      node: node.uniqueId,
      hint: 'List every column the model returns with its data_type, e.g.\n'
        + `    models:\n      - name: ${node.name}\n        columns:\n          - name: id\n            data_type: integer`,
    });
  }
  const untyped = node.columns.filter((c) => !c.dataType?.trim()).map((c) => c.name);
  if (untyped.length) {
    throw new KilnError('config', `model '${node.name}' has an enforced contract but ${untyped.length === 1 ? 'column' : 'columns'} ${untyped.map((n) => `'${n}'`).join(', ')} ${untyped.length === 1 ? 'has' : 'have'} no data_type`, {
      location: contractLocation(node, untyped[0]),
      node: node.uniqueId,
      hint: 'Give every column of a contracted model a data_type (e.g. `data_type: varchar`).',
    });
  }
  const seen = new Map<string, string>();
  for (const c of node.columns) {
    const key = c.name.toLowerCase();
    if (seen.has(key)) {
      throw new KilnError('config', `model '${node.name}' declares column '${c.name}' twice (also as '${seen.get(key)}')`, {
        location, node: node.uniqueId, hint: 'Column names of a contract are compared without regard to case; keep one entry.',
      });
    }
    seen.set(key, c.name);
  }
  const columns = node.columns.map((c) => ({
    name: c.name,
    dataType: c.dataType!.trim(),
    quote: c.quote,
    constraints: (Array.isArray(c.constraints) ? c.constraints : [])
      .map((raw, i) => parseConstraint(raw, `column '${c.name}' of model '${node.name}'`, i, node, false, c.name)),
  }));
  const modelConstraints = (Array.isArray(node.constraints) ? node.constraints : [])
    .map((raw, i) => parseConstraint(raw, `model '${node.name}'`, i, node, true));
  for (const [i, m] of modelConstraints.entries()) {
    const unknown = (m.columns ?? []).filter((name) => !seen.has(name.replace(/^"(.*)"$/, '$1').toLowerCase()));
    if (unknown.length) {
      const close = closeMatches(unknown[0], node.columns.map((c) => c.name));
      throw new KilnError('config', `constraint ${i + 1} of model '${node.name}' names ${unknown.length === 1 ? 'a column' : 'columns'} the YAML does not declare: ${unknown.join(', ')}`, {
        location, node: node.uniqueId,
        hint: close.length ? `Did you mean '${close[0]}'?` : `Declared columns: ${node.columns.map((c) => c.name).join(', ')}.`,
      });
    }
  }
  return { columns, modelConstraints };
}
