select
    {{ date_trunc('month', 'ordered_on') }} as month,
    count(*) as orders,
    sum(amount_paid) as revenue
from {{ ref('orders') }}
where is_revenue
group by 1
order by 1
