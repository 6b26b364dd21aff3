/**
 * Columns as templates see them (dbt's Column): `col.name`, `col.data_type`, `col.quoted`, and type
 * predicates that packages such as dbt_utils call (`is_string()`, `is_number()` …).
 */
const STRING = /^(text|varchar|character varying|char|character|string|nvarchar|nchar|bpchar)\b/i;
const INTEGER = /^(int|integer|bigint|smallint|tinyint|hugeint|int2|int4|int8|int64|ubigint|uinteger|usmallint|utinyint|serial|bigserial)\b/i;
const FLOAT = /^(float|float4|float8|double|double precision|real|float64)\b/i;
const NUMERIC = /^(numeric|decimal|number|bignumeric)\b/i;

export class Column {
  constructor(
    readonly name: string,
    readonly data_type: string,
    private readonly quote: (s: string) => string,
  ) {}

  get column(): string { return this.name; }
  get dtype(): string { return this.data_type; }
  get quoted(): string { return this.quote(this.name); }

  is_string(): boolean { return STRING.test(this.data_type); }
  is_integer(): boolean { return INTEGER.test(this.data_type); }
  is_float(): boolean { return FLOAT.test(this.data_type); }
  is_numeric(): boolean { return NUMERIC.test(this.data_type); }
  is_number(): boolean { return this.is_integer() || this.is_float() || this.is_numeric(); }

  /** `varchar(256)` → 256; unbounded strings report dbt's 256 default. */
  string_size(): number {
    const m = /\((\d+)\)/.exec(this.data_type);
    return m ? Number(m[1]) : 256;
  }

  toString(): string {
    return `<Column ${this.name} (${this.data_type})>`;
  }
}
