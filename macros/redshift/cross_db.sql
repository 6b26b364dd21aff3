{# Redshift versions of the cross-database macros where Redshift differs from Postgres (whose versions it
   inherits otherwise): Redshift has DATEADD/DATEDIFF/LISTAGG/ANY_VALUE of its own, GETDATE(), and no
   boolean-to-text cast. #}

{% macro redshift__dateadd(datepart, interval, from_date_or_timestamp) -%}
  dateadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro redshift__datediff(first_date, second_date, datepart) -%}
  datediff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}

{# LISTAGG orders WITHIN GROUP; a limit keeps the first limit_num values (by row number in that order). #}
{% macro redshift__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- if limit_num -%}
    {{ exceptions.raise_compiler_error("listagg with limit_num is not supported on Redshift by Kiln; filter the rows first") }}
  {%- endif -%}
  listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}

{% macro redshift__any_value(expression) -%}
  any_value({{ expression }})
{%- endmacro %}

{% macro redshift__current_timestamp() -%}
  getdate()
{%- endmacro %}

{% macro redshift__cast_bool_to_text(field) -%}
  case when {{ field }} then 'true' when not {{ field }} then 'false' end
{%- endmacro %}

{% macro redshift__type_string() %}{{ return('varchar') }}{% endmacro %}
{% macro redshift__type_float() %}{{ return('double precision') }}{% endmacro %}
