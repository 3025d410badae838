{{ config(tags=["hourly"]) }}

select
    cast(id as integer)                   as payment_id,
    cast(order_id as integer)             as order_id,
    lower(payment_method)                 as payment_method,
    cast(amount as decimal(10, 2))        as amount,
    cast(paid_at as timestamp)            as paid_at
from {{ source('raw', 'payments') }}
