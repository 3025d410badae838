{{ config(tags=["daily"]) }}

select
    p.payment_id,
    p.order_id,
    o.customer_id,
    p.payment_method,
    m.method_name,
    m.is_card,
    p.amount,
    op.payment_count                          as order_payment_count,
    cast(p.amount / op.amount_paid as double) as share_of_order_payments,
    p.paid_at,
    cast(p.paid_at as date)                   as paid_date
from {{ ref('stg_payments') }} as p
join {{ ref('stg_orders') }} as o
    on p.order_id = o.order_id
join {{ ref('int_order_payments') }} as op
    on p.order_id = op.order_id
left join {{ ref('payment_methods') }} as m
    on p.payment_method = m.payment_method
