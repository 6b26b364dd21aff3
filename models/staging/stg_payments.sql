select
    id as payment_id,
    order_id,
    method as payment_method,
    -- safe_cast is one of Kiln's cross-database macros (dispatched per adapter).
    {{ safe_cast('amount_cents', type_numeric()) }} / 100 as amount
from {{ ref('raw_payments') }}
