{# Arrays, casts, equality and generated series: dbt's global helpers that packages call as dbt.<name>. #}

{% macro array_construct(inputs=[], data_type=api.Column.translate_type('integer')) -%}
  {{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{%- endmacro %}
{% macro default__array_construct(inputs, data_type) -%}
  {%- if inputs | length > 0 -%}array[ {{ inputs | join(' , ') }} ]{%- else -%}array[]::{{ data_type }}[]{%- endif -%}
{%- endmacro %}
{% macro duckdb__array_construct(inputs, data_type) -%}
  {%- if inputs | length > 0 -%}[ {{ inputs | join(' , ') }} ]{%- else -%}cast([] as {{ data_type }}[]){%- endif -%}
{%- endmacro %}

{% macro array_append(array, new_element) -%}
  {{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}
{%- endmacro %}
{% macro default__array_append(array, new_element) -%}
  array_append({{ array }}, {{ new_element }})
{%- endmacro %}

{% macro array_concat(array_1, array_2) -%}
  {{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}
{%- endmacro %}
{% macro default__array_concat(array_1, array_2) -%}
  array_cat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}
{% macro duckdb__array_concat(array_1, array_2) -%}
  list_concat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{% macro cast(field, type) -%}
  {{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}
{%- endmacro %}
{% macro default__cast(field, type) -%}
  cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro date(year, month, day) -%}
  {{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}
{%- endmacro %}
{% macro default__date(year, month, day) -%}
  {%- set dt = modules.datetime.date(year, month, day) -%}
  cast('{{ dt.strftime('%Y-%m-%d') }}' as date)
{%- endmacro %}

{# Null-safe equality: true when both sides are equal or both are null. #}
{% macro equals(expr1, expr2) -%}
  {{ return(adapter.dispatch('equals', 'dbt')(expr1, expr2)) }}
{%- endmacro %}
{% macro default__equals(expr1, expr2) -%}
  case when (({{ expr1 }} = {{ expr2 }}) or ({{ expr1 }} is null and {{ expr2 }} is null)) then 0 else 1 end = 0
{%- endmacro %}

{% macro current_timestamp_backcompat() -%}
  {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{%- endmacro %}
{% macro default__current_timestamp_backcompat() -%}
  current_timestamp::timestamp
{%- endmacro %}
{% macro current_timestamp_in_utc_backcompat() -%}
  {{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}
{%- endmacro %}
{% macro default__current_timestamp_in_utc_backcompat() -%}
  current_timestamp::timestamp
{%- endmacro %}

{# The smallest n with 2^n >= upper_bound: how many doublings generate_series needs. #}
{% macro get_powers_of_two(upper_bound) -%}
  {{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}
{%- endmacro %}
{% macro default__get_powers_of_two(upper_bound) -%}
  {%- if upper_bound <= 0 -%}
    {{ exceptions.raise_compiler_error('get_powers_of_two: the upper bound must be positive, not ' ~ upper_bound) }}
  {%- endif -%}
  {%- for n in range(1, 64) -%}
    {%- if upper_bound <= 2 ** n -%}{{ return(n) }}{%- endif -%}
  {%- endfor -%}
{%- endmacro %}

{# Rows 1..upper_bound in a column generated_number, by cross-joining n two-row tables. #}
{% macro generate_series(upper_bound) -%}
  {{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}
{%- endmacro %}
{% macro default__generate_series(upper_bound) -%}
  {%- set n = dbt.get_powers_of_two(upper_bound) -%}
  with p as (
    select 0 as generated_number union all select 1
  ), unioned as (
    select
    {% for i in range(n) -%}
      p{{ i }}.generated_number * power(2, {{ i }}){% if not loop.last %} + {% endif %}
    {%- endfor %}
      + 1 as generated_number
    from
    {% for i in range(n) -%}
      p as p{{ i }}{% if not loop.last %} cross join {% endif %}
    {%- endfor %}
  )
  select * from unioned
  where generated_number <= {{ upper_bound }}
  order by generated_number
{%- endmacro %}

{# How many dateparts lie between two dates, asked of the warehouse at execute time (1 while parsing). #}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
  {{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{%- endmacro %}
{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
  {%- call statement('get_intervals_between', fetch_result=True) -%}
    select {{ dbt.datediff(start_date, end_date, datepart) }}
  {%- endcall -%}
  {%- set result = load_result('get_intervals_between') -%}
  {%- if result and result['data'] -%}
    {{ return(result['data'][0][0]) }}
  {%- else -%}
    {{ return(1) }}
  {%- endif -%}
{%- endmacro %}

{# One row per datepart from start_date (inclusive) to end_date (exclusive), in column date_<datepart>. #}
{% macro date_spine(datepart, start_date, end_date) -%}
  {{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{%- endmacro %}
{% macro default__date_spine(datepart, start_date, end_date) -%}
  with rawdata as (
    {{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
  ),
  all_periods as (
    select ({{ dbt.dateadd(datepart, 'row_number() over (order by generated_number) - 1', start_date) }}) as date_{{ datepart }}
    from rawdata
  ),
  filtered as (
    select * from all_periods where date_{{ datepart }} < {{ end_date }}
  )
  select * from filtered
{%- endmacro %}

{# Column names a query would return, found by running it with no rows. #}
{% macro get_columns_in_query(select_sql) -%}
  {{ return(adapter.dispatch('get_columns_in_query', 'dbt')(select_sql)) }}
{%- endmacro %}
{% macro default__get_columns_in_query(select_sql) -%}
  {%- call statement('get_columns_in_query', fetch_result=True) -%}
    select * from ({{ select_sql }}) as kiln_columns_probe where false limit 0
  {%- endcall -%}
  {%- set result = load_result('get_columns_in_query') -%}
  {{ return(result.table.column_names if result else []) }}
{%- endmacro %}
