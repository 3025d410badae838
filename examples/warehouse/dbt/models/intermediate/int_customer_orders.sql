select
    customer_id,
    count(*)                                                   as order_count,
    count(*) filter (where is_revenue)                         as revenue_order_count,
    cast(sum(case when is_revenue then order_total else 0 end) as decimal(12, 2)) as lifetime_revenue,
    min(ordered_at)                                            as first_ordered_at,
    max(ordered_at)                                            as last_ordered_at
from {{ ref('int_orders_enriched') }}
group by customer_id
