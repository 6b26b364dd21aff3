/**
 * Node selection (dbt selection syntax) against a small real DAG: every method, the graph operators, set
 * operations, --exclude, YAML selectors, and the errors a user can hit.
 *
 * The fixture (package kiln_shop unless noted; folders in brackets):
 *
 *   source shop.orders  [models/staging/sources.yml] ─► stg_orders [staging] ─► int_order_payments [intermediate]
 *   source shop.refunds [models/staging/sources.yml]    (no children)
 *   seed raw_payments ─► stg_payments [staging] ─► int_order_payments
 *   stg_orders, int_order_payments ─► orders [marts]          (a diamond: stg_orders → int_order_payments → orders)
 *   seed raw_customers ─► stg_customers [staging] ─► customers [marts] ◄─ orders
 *   orders, shop_utils.calendar [utils] ─► monthly_revenue [marts/finance] ─► analysis revenue_check
 *   shop_utils.calendar ─► dim_dates [models root]
 *
 * The source table shop.orders shares its name with the model orders, to check that names select models only.
 */
import { describe, expect, it } from 'vitest';
import { KilnError, resolveLocation } from '../../src/errors.js';
import { ProjectGraph } from '../../src/graph/dag.js';
import {
  loadYamlSelectors,
  parseCriterion,
  parseSelectArgs,
  selectNodes,
  Selector,
  type SelectionRequest,
  type SelectorDefinitions,
} from '../../src/graph/selectors.js';
import type { GraphNode, ResourceType } from '../../src/project/nodes.js';
import { YamlFile } from '../../src/project/yamlFile.js';
import { thrown } from '../helpers/errors.js';

// ---------------------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------------------

const ID = {
  src_orders: 'source.kiln_shop.shop.orders',
  src_refunds: 'source.kiln_shop.shop.refunds',
  raw_customers: 'seed.kiln_shop.raw_customers',
  raw_payments: 'seed.kiln_shop.raw_payments',
  stg_orders: 'model.kiln_shop.stg_orders',
  stg_customers: 'model.kiln_shop.stg_customers',
  stg_payments: 'model.kiln_shop.stg_payments',
  int_order_payments: 'model.kiln_shop.int_order_payments',
  orders: 'model.kiln_shop.orders',
  customers: 'model.kiln_shop.customers',
  monthly_revenue: 'model.kiln_shop.monthly_revenue',
  dim_dates: 'model.kiln_shop.dim_dates',
  calendar: 'model.shop_utils.calendar',
  revenue_check: 'analysis.kiln_shop.revenue_check',
} as const;
type Alias = keyof typeof ID;
const ALL = Object.keys(ID) as Alias[];
const ALIAS_OF = new Map<string, Alias>(ALL.map((a) => [ID[a], a]));

interface Spec {
  type: ResourceType;
  name: string;
  pkg?: string;
  fqn: string[];
  file: string;
  tags?: string[];
  config?: Record<string, unknown>;
  sourceName?: string;
}

const SPECS: Record<Alias, Spec> = {
  src_orders: {
    type: 'source', name: 'orders', sourceName: 'shop', fqn: ['kiln_shop', 'shop', 'orders'], file: 'models/staging/sources.yml',
    tags: ['pii'], config: { enabled: true },
  },
  src_refunds: {
    type: 'source', name: 'refunds', sourceName: 'shop', fqn: ['kiln_shop', 'shop', 'refunds'], file: 'models/staging/sources.yml',
    config: { enabled: true },
  },
  raw_customers: { type: 'seed', name: 'raw_customers', fqn: ['kiln_shop', 'raw_customers'], file: 'seeds/raw_customers.csv', tags: ['raw'], config: { materialized: 'seed' } },
  raw_payments: { type: 'seed', name: 'raw_payments', fqn: ['kiln_shop', 'raw_payments'], file: 'seeds/raw_payments.csv', tags: ['raw'], config: { materialized: 'seed' } },
  stg_orders: { type: 'model', name: 'stg_orders', fqn: ['kiln_shop', 'staging', 'stg_orders'], file: 'models/staging/stg_orders.sql', tags: ['staging'], config: { materialized: 'view' } },
  stg_customers: {
    type: 'model', name: 'stg_customers', fqn: ['kiln_shop', 'staging', 'stg_customers'], file: 'models/staging/stg_customers.sql',
    tags: ['staging', 'pii'], config: { materialized: 'view' },
  },
  stg_payments: { type: 'model', name: 'stg_payments', fqn: ['kiln_shop', 'staging', 'stg_payments'], file: 'models/staging/stg_payments.sql', tags: ['staging'], config: { materialized: 'view' } },
  int_order_payments: {
    type: 'model', name: 'int_order_payments', fqn: ['kiln_shop', 'intermediate', 'int_order_payments'], file: 'models/intermediate/int_order_payments.sql',
    config: { materialized: 'ephemeral' },
  },
  orders: { type: 'model', name: 'orders', fqn: ['kiln_shop', 'marts', 'orders'], file: 'models/marts/orders.sql', tags: ['marts', 'nightly'], config: { materialized: 'table' } },
  customers: { type: 'model', name: 'customers', fqn: ['kiln_shop', 'marts', 'customers'], file: 'models/marts/customers.sql', tags: ['marts', 'pii'], config: { materialized: 'table' } },
  monthly_revenue: {
    type: 'model', name: 'monthly_revenue', fqn: ['kiln_shop', 'marts', 'finance', 'monthly_revenue'], file: 'models/marts/finance/monthly_revenue.sql',
    tags: ['marts', 'finance'], config: { materialized: 'incremental', full_refresh: false, meta: { owner: 'finance' } },
  },
  dim_dates: { type: 'model', name: 'dim_dates', fqn: ['kiln_shop', 'dim_dates'], file: 'models/dim_dates.sql', tags: ['nightly'], config: { materialized: 'table' } },
  calendar: { type: 'model', name: 'calendar', pkg: 'shop_utils', fqn: ['shop_utils', 'utils', 'calendar'], file: 'models/utils/calendar.sql', tags: ['utils'], config: { materialized: 'view' } },
  revenue_check: { type: 'analysis', name: 'revenue_check', fqn: ['kiln_shop', 'analysis', 'revenue_check'], file: 'analyses/revenue_check.sql' },
};

const EDGES: [Alias, Alias][] = [
  ['src_orders', 'stg_orders'],
  ['raw_customers', 'stg_customers'],
  ['raw_payments', 'stg_payments'],
  ['stg_orders', 'int_order_payments'],
  ['stg_payments', 'int_order_payments'],
  ['stg_orders', 'orders'],
  ['int_order_payments', 'orders'],
  ['stg_customers', 'customers'],
  ['orders', 'customers'],
  ['orders', 'monthly_revenue'],
  ['calendar', 'monthly_revenue'],
  ['calendar', 'dim_dates'],
  ['monthly_revenue', 'revenue_check'],
];

/** A node with just the fields selection reads (plus the required scalars), as the parser would produce. */
function fakeNode(alias: Alias): GraphNode {
  const s = SPECS[alias];
  const tags = s.tags ?? [];
  return {
    uniqueId: ID[alias],
    resourceType: s.type,
    name: s.name,
    packageName: s.pkg ?? 'kiln_shop',
    path: s.file.split('/').slice(1).join('/'),
    originalFilePath: s.file,
    fqn: s.fqn,
    description: '',
    columns: [],
    meta: {},
    tags,
    config: { ...(s.config ?? {}), tags },
    relation: { schema: 'main', identifier: s.name },
    ...(s.sourceName ? { sourceName: s.sourceName } : {}),
  } as unknown as GraphNode;
}

function buildFixtureGraph(): ProjectGraph {
  const nodes = new Map<string, GraphNode>(ALL.map((a) => [ID[a], fakeNode(a)]));
  const graph = new ProjectGraph(nodes);
  for (const [parent, child] of EDGES) graph.addEdge(ID[parent], ID[child]);
  return graph;
}

const graph = buildFixtureGraph();
const NO_SELECTORS: SelectorDefinitions = { named: new Map() };

/** Selected aliases, sorted. */
function aliases(ids: Iterable<string>): Alias[] {
  return [...ids].map((id) => ALIAS_OF.get(id) ?? (id as Alias)).sort();
}

const sorted = (list: readonly Alias[]) => [...list].sort();
const except = (...out: Alias[]) => ALL.filter((a) => !out.includes(a));

function run(req: Partial<SelectionRequest>, defs: SelectorDefinitions = NO_SELECTORS): Alias[] {
  return aliases(selectNodes(graph, defs, { select: req.select ?? [], exclude: req.exclude ?? [], selector: req.selector }));
}

/** `--select <args...>` with no YAML selectors. */
const select = (...args: string[]) => run({ select: args });


function yamlSelectors(text: string): SelectorDefinitions {
  return loadYamlSelectors(YamlFile.parse(text, 'selectors.yml'));
}

// ---------------------------------------------------------------------------------------------------------
// Fixture sanity
// ---------------------------------------------------------------------------------------------------------

describe('fixture graph', () => {
  it('has 14 nodes and the expected edges', () => {
    expect(graph.nodes.size).toBe(14);
    expect(graph.graph.edgeCount()).toBe(EDGES.length);
    expect(aliases(graph.parents(ID.orders))).toEqual(['int_order_payments', 'stg_orders']);
  });

  it('selects every node when nothing is selected or excluded', () => {
    expect(run({})).toEqual(sorted(ALL));
  });
});

// ---------------------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------------------

type Case = [expr: string, expected: Alias[]];

const STAGING: Alias[] = ['stg_customers', 'stg_orders', 'stg_payments'];
const MARTS: Alias[] = ['customers', 'monthly_revenue', 'orders'];
const MODELS: Alias[] = [...STAGING, ...MARTS, 'int_order_payments', 'dim_dates', 'calendar'];
const SOURCES: Alias[] = ['src_orders', 'src_refunds'];
const SEEDS: Alias[] = ['raw_customers', 'raw_payments'];
const KILN_SHOP_NON_SOURCES = except('calendar', 'src_orders', 'src_refunds');

describe('fqn (the default method)', () => {
  it.each<Case>([
    ['stg_orders', ['stg_orders']],
    ['fqn:stg_orders', ['stg_orders']],
    // A source table named like a model is not selected by name: dbt's fqn method skips sources.
    ['orders', ['orders']],
    ['calendar', ['calendar']],
    ['staging.stg_orders', ['stg_orders']],
    ['kiln_shop.staging.stg_orders', ['stg_orders']],
    ['kiln_shop.staging', STAGING],
    ['staging', STAGING],
    ['fqn:staging', STAGING],
    ['marts', MARTS],
    ['marts.finance', ['monthly_revenue']],
    ['marts.finance.monthly_revenue', ['monthly_revenue']],
    // Only a prefix of the fqn (with or without the package) matches, not an inner folder.
    ['finance', []],
    ['finance.monthly_revenue', []],
    ['kiln_shop', KILN_SHOP_NON_SOURCES],
    ['shop_utils', ['calendar']],
    ['shop_utils.utils.calendar', ['calendar']],
    ['utils.calendar', ['calendar']],
    // As in dbt, `package.model` only reaches models at the package's root (calendar is in utils/).
    ['shop_utils.calendar', []],
    ['kiln_shop.calendar', []],
    ['kiln_shop.orders', []],
    ['shop', []],
    ['nope', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['stg_*', STAGING],
    ['*_orders', ['stg_orders']],
    ['raw_?ustomers', ['raw_customers']],
    ['stg_[co]*', ['stg_customers', 'stg_orders']],
    ['staging.stg_*', STAGING],
    ['staging.*_orders', ['stg_orders']],
    ['kiln_shop.staging.*', STAGING],
    ['kiln_shop.*', KILN_SHOP_NON_SOURCES],
    ['marts.*', MARTS],
    ['*', except('src_orders', 'src_refunds')],
    // dbt matches the rest of the fqn from the first wildcard on: `*.x` is not "everything".
    ['*.stg_orders', ['stg_orders']],
    ['kiln_shop.*.customers', ['customers']],
  ])('glob %s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });
});

describe('path and file', () => {
  it.each<Case>([
    ['path:models/staging', [...STAGING, ...SOURCES]],
    ['path:models/staging/', [...STAGING, ...SOURCES]],
    ['path:./models/staging/', [...STAGING, ...SOURCES]],
    ['models/staging', [...STAGING, ...SOURCES]],
    ['models/staging/', [...STAGING, ...SOURCES]],
    ['path:models/marts', MARTS],
    ['path:models/marts/finance', ['monthly_revenue']],
    ['path:models/mart', []],
    ['path:models', [...MODELS, ...SOURCES]],
    ['path:models/staging/stg_orders.sql', ['stg_orders']],
    ['models/staging/stg_orders.sql', ['stg_orders']],
    ['path:models/staging/sources.yml', SOURCES],
    ['path:models/staging/stg_orders', []],
    ['path:seeds', SEEDS],
    ['seeds/raw_customers.csv', ['raw_customers']],
    ['path:analyses', ['revenue_check']],
    ['models\\staging\\stg_orders.sql', ['stg_orders']],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['path:models/staging/*.sql', STAGING],
    ['path:models/staging/stg_*', STAGING],
    // `*` does not cross a folder boundary (Python's Path.glob, as dbt uses it)…
    ['path:models/*.sql', ['dim_dates']],
    // …but a glob that names a folder selects everything under it, and `**` crosses folders.
    ['path:models/mar*', MARTS],
    ['path:models/*', [...MODELS, ...SOURCES]],
    ['path:models/**/*.sql', MODELS],
    ['path:models/**/customers.sql', ['customers']],
    ['path:*/raw_*.csv', SEEDS],
    ['path:**/*.csv', SEEDS],
    ['path:models/**', [...MODELS, ...SOURCES]],
    ['path:models/staging/stg_?rders.sql', ['stg_orders']],
    ['path:models/staging/stg_orders.sq?', ['stg_orders']],
    ['path:models/[ms]*', [...MARTS, ...STAGING, ...SOURCES]],
    ['path:models/[!m]*', [...STAGING, ...SOURCES, 'int_order_payments', 'dim_dates', 'calendar']],
    ['path:models/st?ging/', [...STAGING, ...SOURCES]],
  ])('glob %s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['file:stg_orders.sql', ['stg_orders']],
    ['file:stg_orders', ['stg_orders']],
    ['file:sources.yml', SOURCES],
    ['file:sources', SOURCES],
    ['file:stg_*', STAGING],
    ['file:*.csv', SEEDS],
    ['file:raw_customers.csv', ['raw_customers']],
    // A bare value ending in .sql/.csv (no folder) is a file name, as in dbt.
    ['stg_orders.sql', ['stg_orders']],
    ['raw_payments.csv', ['raw_payments']],
    ['calendar.sql', ['calendar']],
    ['file:orders.sql', ['orders']],
    ['file:nope.sql', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });
});

describe('tag, config, resource_type, source, package, unique_id', () => {
  it.each<Case>([
    ['tag:nightly', ['dim_dates', 'orders']],
    ['tag:pii', ['customers', 'src_orders', 'stg_customers']],
    ['tag:marts', MARTS],
    ['tag:mart*', MARTS],
    ['tag:raw', SEEDS],
    ['tag:utils', ['calendar']],
    ['tag:Nightly', []],
    ['tag:nope', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['config.materialized:table', ['customers', 'dim_dates', 'orders']],
    ['config.materialized:view', [...STAGING, 'calendar']],
    ['config.materialized:ephemeral', ['int_order_payments']],
    ['config.materialized:incremental', ['monthly_revenue']],
    ['config.materialized:seed', SEEDS],
    ['config.materialized:snapshot', []],
    // A list config matches when it contains the value.
    ['config.tags:pii', ['customers', 'src_orders', 'stg_customers']],
    ['config.tags:staging', STAGING],
    ['config.tags:nope', []],
    // Nested keys, and booleans compared case-insensitively.
    ['config.meta.owner:finance', ['monthly_revenue']],
    ['config.meta.owner:sales', []],
    ['config.full_refresh:false', ['monthly_revenue']],
    ['config.full_refresh:False', ['monthly_revenue']],
    ['config.full_refresh:true', []],
    ['config.enabled:true', SOURCES],
    ['config.nope:x', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['resource_type:model', MODELS],
    ['resource_type:seed', SEEDS],
    ['resource_type:source', SOURCES],
    ['resource_type:analysis', ['revenue_check']],
    ['resource_type:snapshot', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['source:shop', SOURCES],
    ['source:shop.orders', ['src_orders']],
    ['source:shop.refunds', ['src_refunds']],
    ['source:shop.*', SOURCES],
    ['source:*.orders', ['src_orders']],
    ['source:sh*', SOURCES],
    ['source:kiln_shop.shop.refunds', ['src_refunds']],
    ['source:kiln_shop.shop.*', SOURCES],
    ['source:other_pkg.shop.orders', []],
    ['source:shop.customers', []],
    ['source:crm', []],
    // The source method only ever selects sources, even when a model has the same name.
    ['source:orders', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    ['package:shop_utils', ['calendar']],
    ['package:shop_*', ['calendar']],
    ['package:kiln_shop', except('calendar')],
    ['package:nope', []],
    ['unique_id:model.kiln_shop.orders', ['orders']],
    ['unique_id:source.kiln_shop.shop.orders', ['src_orders']],
    ['unique_id:seed.*', SEEDS],
    ['unique_id:orders', []],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it('test_type and test_name select nothing until tests exist', () => {
    expect(select('test_type:generic')).toEqual([]);
    expect(select('test_name:not_null')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Graph operators
// ---------------------------------------------------------------------------------------------------------

const UPSTREAM_OF_ORDERS: Alias[] = ['orders', 'stg_orders', 'int_order_payments', 'stg_payments', 'src_orders', 'raw_payments'];
const DOWNSTREAM_OF_ORDERS: Alias[] = ['orders', 'customers', 'monthly_revenue', 'revenue_check'];

describe('graph operators', () => {
  it.each<Case>([
    ['+orders', UPSTREAM_OF_ORDERS],
    ['orders+', DOWNSTREAM_OF_ORDERS],
    ['+orders+', [...new Set([...UPSTREAM_OF_ORDERS, ...DOWNSTREAM_OF_ORDERS])]],
    ['0+orders', ['orders']],
    ['1+orders', ['orders', 'stg_orders', 'int_order_payments']],
    // Depth counts the shortest path: stg_orders is a parent (depth 1) and a grandparent via the diamond.
    ['2+orders', ['orders', 'stg_orders', 'int_order_payments', 'stg_payments', 'src_orders']],
    ['3+orders', UPSTREAM_OF_ORDERS],
    ['99+orders', UPSTREAM_OF_ORDERS],
    ['stg_orders+1', ['stg_orders', 'int_order_payments', 'orders']],
    ['stg_orders+2', ['stg_orders', 'int_order_payments', 'orders', 'customers', 'monthly_revenue']],
    ['stg_orders+0', ['stg_orders']],
    ['1+int_order_payments+1', ['int_order_payments', 'stg_orders', 'stg_payments', 'orders']],
    ['2+int_order_payments+1', ['int_order_payments', 'stg_orders', 'stg_payments', 'src_orders', 'raw_payments', 'orders']],
    ['+stg_orders', ['stg_orders', 'src_orders']],
    ['raw_payments+', ['raw_payments', 'stg_payments', 'int_order_payments', ...DOWNSTREAM_OF_ORDERS]],
    ['+calendar', ['calendar']],
    ['revenue_check+', ['revenue_check']],
    ['+revenue_check', except('dim_dates', 'src_refunds', 'stg_customers', 'raw_customers', 'customers')],
    ['source:shop+', [...SOURCES, 'stg_orders', 'int_order_payments', ...DOWNSTREAM_OF_ORDERS]],
    ['source:shop.refunds+', ['src_refunds']],
    ['tag:nightly+1', ['orders', 'dim_dates', 'customers', 'monthly_revenue']],
    ['+config.materialized:ephemeral', ['int_order_payments', 'stg_orders', 'stg_payments', 'src_orders', 'raw_payments']],
    ['+path:models/marts/finance', ['monthly_revenue', 'calendar', ...UPSTREAM_OF_ORDERS]],
    ['1+stg_*', [...STAGING, 'src_orders', ...SEEDS]],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it.each<Case>([
    // @x: x, all its descendants, and every ancestor of those.
    ['@stg_payments', except('src_refunds', 'dim_dates')],
    ['@orders', except('src_refunds', 'dim_dates')],
    ['@calendar', except('customers', 'stg_customers', 'raw_customers', 'src_refunds')],
    ['@dim_dates', ['dim_dates', 'calendar']],
    ['@stg_customers', ['stg_customers', 'raw_customers', 'customers', ...UPSTREAM_OF_ORDERS]],
    ['@refunds', []], // a source is not selected by name
    ['@source:shop.refunds', ['src_refunds']],
    ['@revenue_check', ['revenue_check', 'monthly_revenue', 'calendar', ...UPSTREAM_OF_ORDERS]],
    // A parent operator adds nothing to '@' (it already includes all ancestors); dbt accepts the form.
    ['@+dim_dates', ['dim_dates', 'calendar']],
    ['@2+stg_payments', except('src_refunds', 'dim_dates')],
  ])('%s', (expr, expected) => {
    expect(select(expr)).toEqual(sorted(expected));
  });

  it("rejects '@' with a trailing '+' (dbt: the '@' prefix and '+' suffix are incompatible)", () => {
    for (const expr of ['@orders+', '@orders+1']) {
      const e = thrown(() => select(expr));
      expect(e.kind).toBe('usage');
      expect(e.message).toBe(`'@' and a trailing '+' cannot be combined in '${expr}'`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Set operations and --exclude
// ---------------------------------------------------------------------------------------------------------

describe('union and intersection', () => {
  it.each<[args: string[], expected: Alias[]]>([
    [['stg_orders stg_payments'], ['stg_orders', 'stg_payments']],
    [['stg_orders', 'stg_payments'], ['stg_orders', 'stg_payments']],
    [['  stg_orders \t  stg_payments  '], ['stg_orders', 'stg_payments']],
    [['stg_orders customers', 'tag:nightly'], ['stg_orders', 'customers', 'orders', 'dim_dates']],
    [['orders orders', 'orders'], ['orders']],
    [['tag:nightly', 'tag:pii'], ['dim_dates', 'orders', 'customers', 'src_orders', 'stg_customers']],
    [['+stg_orders', 'stg_payments+1'], ['stg_orders', 'src_orders', 'stg_payments', 'int_order_payments']],
    [['nope', 'calendar'], ['calendar']],
    // Comma: intersection; each part carries its own graph operators.
    [['tag:marts,config.materialized:table'], ['orders', 'customers']],
    [['tag:marts,tag:pii,config.materialized:table'], ['customers']],
    [['+orders,tag:pii'], ['src_orders']],
    [['+orders,resource_type:model'], ['orders', 'stg_orders', 'int_order_payments', 'stg_payments']],
    [['stg_orders+,tag:marts'], MARTS],
    [['stg_orders+,orders+'], DOWNSTREAM_OF_ORDERS],
    [['path:models/staging,resource_type:model'], STAGING],
    [['@calendar,tag:staging'], ['stg_orders', 'stg_payments']],
    [['tag:marts,tag:nightly'], ['orders']],
    [['tag:nightly,tag:pii'], []],
    // Union of intersections.
    [['tag:pii,resource_type:model tag:nightly'], ['stg_customers', 'customers', 'orders', 'dim_dates']],
    [['tag:pii,resource_type:model', 'tag:raw,raw_c*'], ['stg_customers', 'customers', 'raw_customers']],
    // Stray commas are ignored.
    [['orders,'], ['orders']],
    [[',tag:marts,,config.materialized:table,'], ['orders', 'customers']],
  ])('%j', (args, expected) => {
    expect(select(...args)).toEqual(sorted(expected));
  });

  it('parses words and commas into a union of intersections', () => {
    const spec = parseSelectArgs(['a b,c', 'd']);
    expect(spec).toMatchObject({
      kind: 'union',
      items: [
        { kind: 'criterion', criterion: { method: 'fqn', value: 'a' } },
        { kind: 'intersection', items: [{ criterion: { value: 'b' } }, { criterion: { value: 'c' } }] },
        { kind: 'criterion', criterion: { value: 'd' } },
      ],
    });
    expect(parseSelectArgs([])).toBeUndefined();
    expect(parseSelectArgs(['', '   '])).toBeUndefined();
  });

  it('Selector.select evaluates a spec directly', () => {
    const selector = new Selector(graph);
    expect(aliases(selector.select(parseSelectArgs(['stg_orders+1'])!))).toEqual(['int_order_payments', 'orders', 'stg_orders']);
    expect(aliases(selector.select({ kind: 'intersection', items: [] }))).toEqual([]);
    expect(aliases(selector.select({ kind: 'union', items: [] }))).toEqual([]);
  });
});

describe('parseCriterion', () => {
  it.each<[text: string, expected: Record<string, unknown>]>([
    ['orders', { method: 'fqn', value: 'orders', parents: false, children: false, childrensParents: false }],
    ['+orders', { method: 'fqn', value: 'orders', parents: true, parentsDepth: undefined, children: false }],
    ['orders+', { method: 'fqn', value: 'orders', parents: false, children: true, childrenDepth: undefined }],
    ['2+tag:nightly+1', { method: 'tag', value: 'nightly', parents: true, parentsDepth: 2, children: true, childrenDepth: 1 }],
    ['@orders', { method: 'fqn', value: 'orders', childrensParents: true, parents: false, children: false }],
    ['config.materialized:table', { method: 'config.materialized', value: 'table' }],
    ['models/staging', { method: 'path', value: 'models/staging' }],
    ['models\\staging', { method: 'path', value: 'models\\staging' }],
    ['C:/proj/models/x.sql', { method: 'path', value: 'C:/proj/models/x.sql' }],
    ['stg_orders.sql', { method: 'file', value: 'stg_orders.sql' }],
    ['raw_orders.csv', { method: 'file', value: 'raw_orders.csv' }],
    ['Stg_Orders.SQL', { method: 'file', value: 'Stg_Orders.SQL' }],
    ['staging.stg_orders', { method: 'fqn', value: 'staging.stg_orders' }],
    ['  orders+  ', { method: 'fqn', value: 'orders', children: true }],
  ])('%s', (text, expected) => {
    expect(parseCriterion(text)).toMatchObject(expected);
  });
});

describe('--exclude', () => {
  it.each<[select: string[], exclude: string[], expected: Alias[]]>([
    [['+orders'], ['resource_type:source', 'resource_type:seed'], ['orders', 'stg_orders', 'int_order_payments', 'stg_payments']],
    [['+orders'], ['resource_type:source resource_type:seed'], ['orders', 'stg_orders', 'int_order_payments', 'stg_payments']],
    [[], ['path:models'], [...SEEDS, 'revenue_check']],
    [[], ['orders+'], except(...DOWNSTREAM_OF_ORDERS)],
    [['tag:marts'], ['orders+'], []],
    [['tag:marts'], ['customers monthly_revenue'], ['orders']],
    [['tag:marts'], ['customers', 'monthly_revenue'], ['orders']],
    [['resource_type:model'], ['tag:pii,tag:staging'], MODELS.filter((m) => m !== 'stg_customers')],
    [['@calendar'], ['+orders'], ['calendar', 'monthly_revenue', 'revenue_check', 'dim_dates']],
    [['stg_*'], ['nope'], STAGING],
    [['stg_*'], [], STAGING],
    [['stg_*'], [''], STAGING],
  ])('--select %j --exclude %j', (sel, exc, expected) => {
    expect(run({ select: sel, exclude: exc })).toEqual(sorted(expected));
  });

  it('reports an unknown method in --exclude too', () => {
    const e = thrown(() => run({ select: ['orders'], exclude: ['tags:pii'] }));
    expect(e.message).toBe("unknown selection method 'tags' in 'tags:pii'");
  });
});

// ---------------------------------------------------------------------------------------------------------
// YAML selectors
// ---------------------------------------------------------------------------------------------------------

const SELECTORS_YML = `
selectors:
  - name: nightly
    description: Everything tagged nightly
    definition: 'tag:nightly'

  - name: string_union
    definition: 'stg_orders stg_payments,tag:staging'

  - name: string_graph
    definition: '+orders'

  - name: staging_views
    definition:
      intersection:
        - method: path
          value: models/staging
        - config.materialized: view

  - name: marts_but_customers
    definition:
      union:
        - method: tag
          value: marts
        - exclude:
            - method: fqn
              value: customers

  - name: marts_tables_but_orders
    definition:
      intersection:
        - tag:marts
        - config.materialized:table
        - exclude:
            - orders

  - name: nightly_or_finance
    definition:
      union:
        - method: selector
          value: nightly
        - tag:finance

  - name: upstream_models_of_orders
    definition:
      method: fqn
      value: orders
      parents: true
      exclude:
        - resource_type: source
        - method: resource_type
          value: seed

  - name: near_orders
    definition:
      method: fqn
      value: orders
      parents: true
      parents_depth: 1
      children: true
      children_depth: 1

  - name: two_up_from_orders
    definition:
      method: fqn
      value: orders
      parents: true
      parents_depth: 2

  - name: downstream_of_stg_orders
    definition:
      method: fqn
      value: stg_orders
      children: true

  - name: depth_without_flag
    definition:
      method: fqn
      value: stg_orders
      children_depth: 1

  - name: calendar_family
    definition:
      method: fqn
      value: calendar
      childrens_parents: true

  - name: shorthand_tag
    definition:
      tag: pii

  - name: shorthand_source
    definition:
      source: shop.orders

  - name: config_in_method
    definition:
      method: config.materialized
      value: incremental

  - name: reuse_nightly
    definition:
      method: selector
      value: nightly

  - name: nested_reuse
    definition:
      intersection:
        - method: selector
          value: nightly_or_finance
        - method: selector
          value: marts_but_customers

  - name: nested_sets
    definition:
      union:
        - intersection:
            - tag:marts
            - tag:pii
        - union:
            - dim_dates
            - intersection:
                - source:shop
                - exclude:
                    - source:shop.refunds
`;

describe('YAML selectors', () => {
  const defs = yamlSelectors(SELECTORS_YML);

  it('reads every selector with its description and default flag', () => {
    expect(defs.named.size).toBe(19);
    const nightly = defs.named.get('nightly')!;
    expect(nightly.description).toBe('Everything tagged nightly');
    expect(nightly.default).toBe(false);
    expect(resolveLocation(nightly.location)).toEqual({ file: 'selectors.yml', line: 3, column: 5 });
  });

  it.each<[name: string, expected: Alias[]]>([
    ['nightly', ['orders', 'dim_dates']],
    ['string_union', ['stg_orders', 'stg_payments']],
    ['string_graph', UPSTREAM_OF_ORDERS],
    ['staging_views', STAGING],
    ['marts_but_customers', ['orders', 'monthly_revenue']],
    ['marts_tables_but_orders', ['customers']],
    ['nightly_or_finance', ['orders', 'dim_dates', 'monthly_revenue']],
    ['upstream_models_of_orders', ['orders', 'stg_orders', 'int_order_payments', 'stg_payments']],
    ['near_orders', ['orders', 'stg_orders', 'int_order_payments', 'customers', 'monthly_revenue']],
    ['two_up_from_orders', ['orders', 'stg_orders', 'int_order_payments', 'stg_payments', 'src_orders']],
    ['downstream_of_stg_orders', ['stg_orders', 'int_order_payments', ...DOWNSTREAM_OF_ORDERS]],
    // dbt: children_depth without `children: true` selects no children.
    ['depth_without_flag', ['stg_orders']],
    ['calendar_family', except('customers', 'stg_customers', 'raw_customers', 'src_refunds')],
    ['shorthand_tag', ['customers', 'src_orders', 'stg_customers']],
    ['shorthand_source', ['src_orders']],
    ['config_in_method', ['monthly_revenue']],
    ['reuse_nightly', ['orders', 'dim_dates']],
    ['nested_reuse', ['orders', 'monthly_revenue']],
    ['nested_sets', ['customers', 'dim_dates', 'src_orders']],
  ])('--selector %s', (name, expected) => {
    expect(run({ selector: name }, defs)).toEqual(sorted(expected));
  });

  it('--select selector:name reuses a YAML selector inside the CLI syntax', () => {
    expect(run({ select: ['selector:nightly,tag:marts'] }, defs)).toEqual(['orders']);
    expect(run({ select: ['selector:nightly', 'stg_orders'] }, defs)).toEqual(['dim_dates', 'orders', 'stg_orders']);
  });

  it('applies --exclude on top of --selector', () => {
    expect(run({ selector: 'nightly', exclude: ['dim_dates'] }, defs)).toEqual(['orders']);
  });

  it('has no default selector, so no --select means everything', () => {
    expect(run({}, defs)).toEqual(sorted(ALL));
  });
});

describe('default YAML selector', () => {
  const defs = yamlSelectors(`
selectors:
  - name: only_staging
    default: true
    definition: path:models/staging
  - name: marts
    definition: tag:marts
`);

  it('is used when there is no --select, --exclude or --selector', () => {
    expect(run({}, defs)).toEqual(sorted([...STAGING, ...SOURCES]));
  });

  it('is ignored when --select is given', () => {
    expect(run({ select: ['orders'] }, defs)).toEqual(['orders']);
  });

  it('is ignored when --selector is given', () => {
    expect(run({ selector: 'marts' }, defs)).toEqual(sorted(MARTS));
  });

  it('is ignored when only --exclude is given (dbt does not combine the two)', () => {
    expect(run({ exclude: ['stg_orders'] }, defs)).toEqual(sorted(except('stg_orders')));
  });

  it('can still be named explicitly', () => {
    expect(run({ selector: 'only_staging' }, defs)).toEqual(sorted([...STAGING, ...SOURCES]));
  });

  it('only `default: true` counts', () => {
    const d = yamlSelectors("selectors:\n  - name: a\n    default: 'true'\n    definition: orders\n  - name: b\n    default: false\n    definition: customers\n");
    expect([...d.named.values()].map((s) => s.default)).toEqual([false, false]);
    expect(run({}, d)).toEqual(sorted(ALL));
  });
});

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

describe('errors', () => {
  it.each<[expr: string, message: string, hint: string]>([
    ['tags:nightly', "unknown selection method 'tags' in 'tags:nightly'", "Did you mean 'tag'?"],
    ['+paths:models/staging', "unknown selection method 'paths' in '+paths:models/staging'", "Did you mean 'path'?"],
    ['configs.materialized:table', "unknown selection method 'configs' in 'configs.materialized:table'", "Did you mean 'config'?"],
    ['sourc:shop', "unknown selection method 'sourc' in 'sourc:shop'", "Did you mean 'source' or 'resource_type'?"],
    [
      'materialized:table',
      "unknown selection method 'materialized' in 'materialized:table'",
      'Methods: fqn, tag, path, file, config, resource_type, source, package, test_type, test_name, selector, unique_id.',
    ],
  ])('unknown method %s', (expr, message, hint) => {
    const e = thrown(() => select(expr));
    expect(e).toBeInstanceOf(KilnError);
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(message);
    expect(e.hint).toBe(hint);
  });

  it.each(['+', '@', '2+', 'orders+x', '+orders++'])('unreadable criterion %j', (expr) => {
    const e = thrown(() => select(expr));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(`cannot read the selector '${expr}'`);
    expect(e.hint).toMatch(/^Selectors look like model_name, \+model, model\+/);
  });

  describe('YAML selector references', () => {
    const defs = yamlSelectors(`
selectors:
  - name: nightly
    definition: tag:nightly
  - name: loop
    definition:
      method: selector
      value: loop
  - name: ping
    definition:
      union:
        - orders
        - method: selector
          value: pong
  - name: pong
    definition:
      method: selector
      value: ping
  - name: broken_ref
    definition:
      method: selector
      value: nighlty
`);

    it('unknown --selector name, with a suggestion', () => {
      const e = thrown(() => run({ selector: 'nighty' }, defs));
      expect(e.kind).toBe('usage');
      expect(e.message).toBe("no selector named 'nighty' in selectors.yml");
      expect(e.hint).toBe("Did you mean 'nightly'?");
    });

    it('unknown selector referenced from another selector', () => {
      const e = thrown(() => run({ selector: 'broken_ref' }, defs));
      expect(e.message).toBe("no selector named 'nighlty' in selectors.yml");
      expect(e.hint).toBe("Did you mean 'nightly'?");
    });

    it('unknown selector with no close match lists the selectors', () => {
      const e = thrown(() => run({ selector: 'zzzzzzzzzzzzzzzzzzzz' }, defs));
      expect(e.hint).toBe('Selectors: nightly, loop, ping, pong, broken_ref.');
    });

    it('unknown selector when there is no selectors.yml', () => {
      const e = thrown(() => run({ selector: 'nightly' }));
      expect(e.message).toBe("no selector named 'nightly' in selectors.yml");
      expect(e.hint).toBe('Selectors: (none).');
    });

    it('a selector that references itself', () => {
      const e = thrown(() => run({ selector: 'loop' }, defs));
      expect(e.kind).toBe('usage');
      expect(e.message).toBe("selector 'loop' includes itself: loop -> loop");
    });

    it('selectors that reference each other', () => {
      expect(thrown(() => run({ selector: 'ping' }, defs)).message).toBe("selector 'ping' includes itself: ping -> pong -> ping");
      expect(thrown(() => run({ select: ['selector:pong'] }, defs)).message).toBe("selector 'pong' includes itself: pong -> ping -> pong");
    });

    it('a selector used twice side by side is not a cycle', () => {
      expect(run({ select: ['selector:nightly selector:nightly,tag:marts'] }, defs)).toEqual(['dim_dates', 'orders']);
    });
  });

  it('--selector together with --select', () => {
    const defs = yamlSelectors('selectors:\n  - name: nightly\n    definition: tag:nightly\n');
    const e = thrown(() => run({ selector: 'nightly', select: ['orders'] }, defs));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe('--selector cannot be combined with --select');
    expect(e.hint).toBe('Use one of them.');
  });

  it('more than one default selector', () => {
    const defs = yamlSelectors(
      'selectors:\n  - name: a\n    default: true\n    definition: orders\n  - name: b\n    default: true\n    definition: customers\n',
    );
    const e = thrown(() => run({}, defs));
    expect(e.kind).toBe('config');
    expect(e.message).toBe('more than one selector is marked default: a, b');
    // An explicit selection does not need the default.
    expect(run({ select: ['orders'] }, defs)).toEqual(['orders']);
  });

  it.each<[title: string, yaml: string, message: string, line: number | undefined]>([
    ['no selectors list', 'selector:\n  - name: a\n', "selectors.yml must have a 'selectors:' list", 1],
    ['an entry without a name', 'selectors:\n  - definition: orders\n', "each selector needs a 'name' and a 'definition'", 2],
    ['an entry without a definition', 'selectors:\n  - name: a\n', "selector 'a' has no 'definition'", 2],
    ['a duplicate name', 'selectors:\n  - name: a\n    definition: x\n  - name: a\n    definition: y\n', "selector 'a' is defined twice", 4],
    ['an empty string definition', "selectors:\n  - name: a\n    definition: '  '\n", 'empty selector definition', 3],
    ['a list definition', 'selectors:\n  - name: a\n    definition: [x]\n', 'a selector definition must be a string or a mapping', 3],
    ['a criterion without a value', 'selectors:\n  - name: a\n    definition:\n      method: tag\n', "a selector criterion needs a 'value'", 4],
    [
      'a mapping that is not a definition',
      'selectors:\n  - name: a\n    definition:\n      tags: nightly\n',
      'a selector definition needs union:, intersection:, or method: and value:',
      4,
    ],
    [
      "'@' together with children",
      'selectors:\n  - name: a\n    definition:\n      method: fqn\n      value: orders\n      childrens_parents: true\n      children: true\n',
      "'childrens_parents' and 'children' cannot be combined",
      4,
    ],
  ])('selectors.yml with %s', (_title, yaml, message, line) => {
    const e = thrown(() => yamlSelectors(yaml));
    expect(e.kind).toBe('config');
    expect(e.message).toBe(message);
    expect(e.location?.file).toBe('selectors.yml');
    expect(e.location?.line).toBe(line);
  });

  it('selectors.yml with an unknown method names the key and suggests one', () => {
    const e = thrown(() => yamlSelectors('selectors:\n  - name: a\n    definition:\n      method: tags\n      value: nightly\n'));
    expect(e.kind).toBe('config');
    expect(e.message).toBe("unknown selection method 'tags'");
    expect(e.location).toEqual({ file: 'selectors.yml', line: 4, column: 15 });
    expect(e.hint).toBe("Did you mean 'tag'?");
  });

  it('selectors.yml with an unknown method in a string definition', () => {
    const e = thrown(() => yamlSelectors("selectors:\n  - name: a\n    definition: 'tags:nightly'\n"));
    expect(e.message).toBe("unknown selection method 'tags' in 'tags:nightly'");
    expect(e.hint).toBe("Did you mean 'tag'?");
  });

  it('no selectors.yml at all', () => {
    expect(loadYamlSelectors(undefined).named.size).toBe(0);
  });
});
