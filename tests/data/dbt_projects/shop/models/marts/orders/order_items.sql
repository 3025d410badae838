select order_id, 1 as item from {{ ref('orders') }}
