{# Snowflake versions of the cross-database macros where the default is wrong for Snowflake
   (dbt-snowflake's definitions). #}

{% macro snowflake__current_timestamp() -%}
  convert_timezone('UTC', current_timestamp())
{%- endmacro %}

{% macro snowflake__type_timestamp() %}{{ return('timestamp_ntz') }}{% endmacro %}

{% macro snowflake__type_string() %}{{ return('varchar') }}{% endmacro %}

{# try_cast only takes text in Snowflake: cast other values to varchar first. #}
{% macro snowflake__safe_cast(field, type) -%}
  try_cast(cast({{ field }} as varchar) as {{ type }})
{%- endmacro %}

{# listagg is Snowflake's own; the order goes in within group, and a limit is applied to the ordered array. #}
{% macro snowflake__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- if limit_num -%}
    array_to_string(array_slice(array_agg({{ measure }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}, 0, {{ limit_num }}), {{ delimiter_text }})
  {%- else -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
  {%- endif -%}
{%- endmacro %}

{% macro snowflake__bool_or(expression) -%}
  boolor_agg({{ expression }})
{%- endmacro %}

{% macro snowflake__array_construct(inputs, data_type) -%}
  array_construct({{ inputs | join(' , ') }})
{%- endmacro %}
