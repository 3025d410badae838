-- Singular test: the finance daily rollup must add up to the order fact table.
with daily as (
    select sum(gross_revenue) as gross_revenue from {{ ref('finance_revenue_daily') }}
),
orders as (
    select sum(case when is_revenue then order_total else 0 end) as gross_revenue
    from {{ ref('fct_orders') }}
)
select daily.gross_revenue as daily_total, orders.gross_revenue as orders_total
from daily cross join orders
where daily.gross_revenue <> orders.gross_revenue
