-- One row per customer, names tidied. Built as a view (see +materialized in kiln_project.yml).
select
    id as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name as full_name,
    lower(email) as email,
    cast(signed_up_at as date) as signed_up_on
from {{ ref('raw_customers') }}
