select * from {{ ref('int_orders') }}
