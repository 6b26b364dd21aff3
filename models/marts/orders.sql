{{ config(materialized='table') }}

with orders as (
    select * from {{ ref('stg_orders') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_on,
    orders.status,
    orders.is_revenue,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.amount_paid, 0) as amount_paid,
    coalesce(p.credit_card_amount, 0) as credit_card_amount,
    coalesce(p.gift_card_amount, 0) as gift_card_amount
from orders
left join {{ ref('int_order_payments') }} as p using (order_id)
