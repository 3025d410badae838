select o.order_id, l.amount from {{ ref('orders') }} o cross join {{ ref('pkg_finance', 'fin_ledger') }} l
