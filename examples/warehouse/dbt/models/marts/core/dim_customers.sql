{{ config(tags=["daily"]) }}

select
    c.customer_id,
    c.full_name,
    c.email,
    c.segment,
    c.is_active,
    c.country_code,
    cc.country_name,
    cc.region,
    coalesce(co.order_count, 0)                               as order_count,
    coalesce(co.revenue_order_count, 0)                       as revenue_order_count,
    cast(coalesce(co.lifetime_revenue, 0) as decimal(12, 2))  as lifetime_revenue,
    co.first_ordered_at,
    co.last_ordered_at,
    c.created_at
from {{ ref('stg_customers') }} as c
left join {{ ref('country_codes') }} as cc
    on c.country_code = cc.country_code
left join {{ ref('int_customer_orders') }} as co
    on c.customer_id = co.customer_id
