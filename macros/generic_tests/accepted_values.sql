{#- Each value of the column outside the accepted list, with its row count. `quote=false` compares unquoted (numbers). -#}
{% test accepted_values(model, column_name, values, quote=True) %}
    {%- if values is none or values is not iterable or values is string or values | length == 0 -%}
        {{ exceptions.raise_compiler_error("accepted_values on '" ~ column_name ~ "' needs `values:`, a list of the accepted values") }}
    {%- endif -%}
    {{ return(adapter.dispatch('test_accepted_values', 'dbt')(model, column_name, values, quote)) }}
{% endtest %}

{% macro default__test_accepted_values(model, column_name, values, quote=True) %}
with observed as (
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select value_field, n_records
from observed
where value_field not in (
    {%- for value in values -%}
        {%- if quote %}{{ dbt.string_literal(value) }}{% else %}{{ value }}{% endif -%}
        {%- if not loop.last %}, {% endif -%}
    {%- endfor -%}
)
{% endmacro %}
