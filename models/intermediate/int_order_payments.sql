-- Ephemeral: never built; inlined as a CTE into the models that ref() it.
select
    order_id,
    count(*) as payment_count,
    sum(amount) as amount_paid,
    {% for method in ['credit_card', 'bank_transfer', 'gift_card', 'coupon'] -%}
    sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount
    {%- if not loop.last %},{% endif %}
    {% endfor %}
from {{ ref('stg_payments') }}
group by order_id
