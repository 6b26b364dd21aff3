{#- The tested relation, narrowed by the test's `where` config when it has one. -#}
{% macro get_where_subquery(relation) -%}
    {{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- Whether this test keeps its failing rows in a table (config store_failures, or --store-failures). -#}
{% macro should_store_failures() -%}
    {%- set configured = config.get('store_failures') -%}
    {{ return(flags.STORE_FAILURES if configured is none else configured) }}
{%- endmacro %}

{#-
  The query a data test runs: the failure measure (fail_calc) over the test's rows, and whether it meets
  the warn_if and error_if conditions. `limit` caps the rows the measure sees.
-#}
{% macro get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
    {{ return(adapter.dispatch('get_test_sql', 'dbt')(main_sql, fail_calc, warn_if, error_if, limit)) }}
{%- endmacro %}

{% macro default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
select
    {{ fail_calc }} as failures,
    {{ fail_calc }} {{ warn_if }} as should_warn,
    {{ fail_calc }} {{ error_if }} as should_error
from (
    {{ main_sql }}
    {% if limit is not none %}limit {{ limit }}{% endif %}
) dbt_internal_test
{%- endmacro %}
