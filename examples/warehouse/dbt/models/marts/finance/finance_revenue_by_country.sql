{{ config(materialized="view") }}

-- Deliberately has no tests (the example's untested model).
select
    c.country_code,
    c.country_name,
    c.region,
    count(o.order_id)                                                     as order_count,
    cast(sum(case when o.is_revenue then o.order_total else 0 end) as decimal(12, 2)) as gross_revenue
from {{ ref('fct_orders') }} as o
join {{ ref('dim_customers') }} as c
    on o.customer_id = c.customer_id
group by c.country_code, c.country_name, c.region
