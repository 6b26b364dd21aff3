{#- Rows where the column is null. When failures are stored, whole rows are kept so they can be inspected. -#}
{% test not_null(model, column_name) %}
    {{ return(adapter.dispatch('test_not_null', 'dbt')(model, column_name)) }}
{% endtest %}

{% macro default__test_not_null(model, column_name) %}
select {{ '*' if should_store_failures() else column_name }}
from {{ model }}
where {{ column_name }} is null
{% endmacro %}
