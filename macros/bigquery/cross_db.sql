{# BigQuery versions of the cross-database macros where GoogleSQL differs from the default (dbt-bigquery's
   definitions): type names, string escapes, date arithmetic, arrays and set operators. #}

{% macro bigquery__type_string() %}{{ return('string') }}{% endmacro %}
{% macro bigquery__type_timestamp() %}{{ return('timestamp') }}{% endmacro %}
{% macro bigquery__type_int() %}{{ return('int64') }}{% endmacro %}
{% macro bigquery__type_bigint() %}{{ return('int64') }}{% endmacro %}
{% macro bigquery__type_float() %}{{ return('float64') }}{% endmacro %}
{% macro bigquery__type_numeric() %}{{ return('numeric') }}{% endmacro %}
{% macro bigquery__type_boolean() %}{{ return('bool') }}{% endmacro %}

{% macro bigquery__safe_cast(field, type) %}safe_cast({{ field }} as {{ type }}){% endmacro %}

{# GoogleSQL escapes a quote inside a string with a backslash; a doubled quote is not a quote. #}
{% macro bigquery__escape_single_quotes(expression) -%}
{{ expression | replace("\\", "\\\\") | replace("'", "\\'") }}
{%- endmacro %}

{% macro bigquery__concat(fields) -%}
  concat({{ fields | join(', ') }})
{%- endmacro %}

{% macro bigquery__hash(field) -%}
  to_hex(md5(cast({{ field }} as string)))
{%- endmacro %}

{% macro bigquery__split_part(string_text, delimiter_text, part_number) -%}
  {%- if part_number >= 0 -%}
    split({{ string_text }}, {{ delimiter_text }})[safe_offset({{ part_number - 1 }})]
  {%- else -%}
    split({{ string_text }}, {{ delimiter_text }})[safe_offset(array_length(split({{ string_text }}, {{ delimiter_text }})) {{ part_number }})]
  {%- endif -%}
{%- endmacro %}

{% macro bigquery__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}{% if limit_num %} limit {{ limit_num }}{% endif %})
{%- endmacro %}

{% macro bigquery__bool_or(expression) -%}
  logical_or({{ expression }})
{%- endmacro %}

{% macro bigquery__cast_bool_to_text(field) -%}
  cast({{ field }} as string)
{%- endmacro %}

{% macro bigquery__position(substring_text, string_text) -%}
  strpos({{ string_text }}, {{ substring_text }})
{%- endmacro %}

{% macro bigquery__right(string_text, length_expression) -%}
  case when {{ length_expression }} = 0 then '' else substr({{ string_text }}, -1 * ({{ length_expression }})) end
{%- endmacro %}

{% macro bigquery__except() %}except distinct{% endmacro %}
{% macro bigquery__intersect() %}intersect distinct{% endmacro %}

{% macro bigquery__current_timestamp() -%}
  current_timestamp()
{%- endmacro %}
{% macro bigquery__current_timestamp_backcompat() -%}
  current_timestamp
{%- endmacro %}
{% macro bigquery__current_timestamp_in_utc_backcompat() -%}
  current_timestamp
{%- endmacro %}

{% macro bigquery__dateadd(datepart, interval, from_date_or_timestamp) -%}
  datetime_add(cast({{ from_date_or_timestamp }} as datetime), interval {{ interval }} {{ datepart }})
{%- endmacro %}

{% macro bigquery__datediff(first_date, second_date, datepart) -%}
  datetime_diff(cast({{ second_date }} as datetime), cast({{ first_date }} as datetime), {{ datepart }})
{%- endmacro %}

{% macro bigquery__date_trunc(datepart, date) -%}
  timestamp_trunc(cast({{ date }} as timestamp), {{ datepart }})
{%- endmacro %}

{% macro bigquery__last_day(date, datepart) -%}
  {%- if datepart == 'quarter' -%}
    cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
  {%- else -%}
    last_day({{ date }}, {{ datepart }})
  {%- endif -%}
{%- endmacro %}

{% macro bigquery__date(year, month, day) -%}
  date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro bigquery__array_construct(inputs, data_type) -%}
  {%- if inputs | length > 0 -%}[ {{ inputs | join(' , ') }} ]{%- else -%}array<{{ data_type }}>[]{%- endif -%}
{%- endmacro %}

{% macro bigquery__array_append(array, new_element) -%}
  array_concat({{ array }}, [{{ new_element }}])
{%- endmacro %}

{% macro bigquery__array_concat(array_1, array_2) -%}
  array_concat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{% macro bigquery__generate_series(upper_bound) -%}
  select generated_number from unnest(generate_array(1, {{ upper_bound }})) as generated_number
{%- endmacro %}
