{{ config(tags=["daily"]) }}

select
    order_date,
    count(*)                                                                  as order_count,
    cast(sum(case when is_revenue then order_total else 0 end) as decimal(12, 2))            as gross_revenue,
    cast(sum(case when status = 'returned' then order_total else 0 end) as decimal(12, 2))   as returned_value,
    cast(sum(amount_paid) as decimal(12, 2))                                  as cash_collected
from {{ ref('fct_orders') }}
group by order_date
