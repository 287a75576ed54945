select
  customer_id,
  {% for s in var('statuses') -%}
  {{ s | lower }}_amount{% if not loop.last %} + {% endif %}
  {% endfor %} as total_amount
from {{ ref('int_orders_status') }}
