{# Cents to a currency amount, rounded: used by every model that shows money. #}
{% macro cents_to_dollars(column_name, scale=2) -%}
    round({{ column_name }} / 100.0, {{ scale }})
{%- endmacro %}

{% macro signed_amount(kind_column, amount_column) -%}
    case when {{ kind_column }} = 'deposit' then {{ amount_column }} else -{{ amount_column }} end
{%- endmacro %}
