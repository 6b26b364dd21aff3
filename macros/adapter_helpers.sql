{# dbt's adapter macros, for code that calls them as dbt.<name>(…) rather than through the context. #}

{% macro get_columns_in_relation(relation) -%}
  {{ return(adapter.get_columns_in_relation(relation)) }}
{%- endmacro %}

{% macro load_cached_relation(relation) -%}
  {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{%- endmacro %}

{% macro drop_relation_if_exists(relation) -%}
  {%- if relation is not none -%}{%- do adapter.drop_relation(relation) -%}{%- endif -%}
{%- endmacro %}
