select
  customer_id,
{% for s in var('statuses') %}
  sum(case when status = '{{ s }}' then amount else 0 end) as {{ s | lower }}_amount{% if not loop.last %},{% endif %}
{% endfor %}
from {{ ref('stg_orders') }}
group by customer_id
