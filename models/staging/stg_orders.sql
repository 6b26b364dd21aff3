select
    id as order_id,
    customer_id,
    ordered_on,
    status,
    status in ({% for s in var('revenue_statuses') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %}) as is_revenue
from {{ ref('raw_orders') }}
