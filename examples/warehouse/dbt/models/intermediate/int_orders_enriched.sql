select
    o.order_id,
    o.customer_id,
    o.product_id,
    pr.category_code,
    c.department,
    o.status,
    o.quantity,
    pr.unit_price,
    cast(o.quantity * pr.unit_price as decimal(12, 2))               as order_total,
    cast(coalesce(pay.amount_paid, 0) as decimal(12, 2))             as amount_paid,
    coalesce(pay.payment_count, 0)                                   as payment_count,
    coalesce(pay.amount_paid, 0) >= o.quantity * pr.unit_price       as is_fully_paid,
    o.status in ('shipped', 'completed')                             as is_revenue,
    o.ordered_at,
    o.order_date,
    pay.last_paid_at,
    o.updated_at
from {{ ref('stg_orders') }} as o
join {{ ref('stg_products') }} as pr
    on o.product_id = pr.product_id
left join {{ ref('product_categories') }} as c
    on pr.category_code = c.category_code
left join {{ ref('int_order_payments') }} as pay
    on o.order_id = pay.order_id
