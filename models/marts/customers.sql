with customer_orders as (
    select
        customer_id,
        min(ordered_on) as first_order_on,
        max(ordered_on) as last_order_on,
        count(*) as order_count,
        sum(case when is_revenue then amount_paid else 0 end) as lifetime_value
    from {{ ref('orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.full_name,
    c.email,
    c.signed_up_on,
    o.first_order_on,
    o.last_order_on,
    coalesce(o.order_count, 0) as order_count,
    coalesce(o.lifetime_value, 0) as lifetime_value,
    {{ datediff('c.signed_up_on', 'o.first_order_on', 'day') }} as days_to_first_order
from {{ ref('stg_customers') }} as c
left join customer_orders as o using (customer_id)
