-- Singular test: no order may be paid more than its total.
select
    order_id,
    order_total,
    amount_paid
from {{ ref('fct_orders') }}
where amount_paid > order_total
