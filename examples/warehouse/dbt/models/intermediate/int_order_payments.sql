{{ config(materialized="ephemeral") }}

-- Ephemeral: inlined as a CTE into its children (int_orders_enriched,
-- fct_payments); it never exists in the warehouse.
select
    p.order_id,
    count(*)                                        as payment_count,
    sum(p.amount)                                   as amount_paid,
    sum(case when m.is_card then p.amount else 0 end) as amount_paid_by_card,
    min(p.paid_at)                                  as first_paid_at,
    max(p.paid_at)                                  as last_paid_at
from {{ ref('stg_payments') }} as p
left join {{ ref('payment_methods') }} as m
    on p.payment_method = m.payment_method
group by p.order_id
