{{ config(tags=["hourly"]) }}

select
    cast(id as integer)                   as order_id,
    cast(customer_id as integer)          as customer_id,
    cast(product_id as integer)           as product_id,
    cast(quantity as integer)             as quantity,
    lower(status)                         as status,
    cast(ordered_at as timestamp)         as ordered_at,
    cast(ordered_at as date)              as order_date,
    cast(updated_at as timestamp)         as updated_at
from {{ source('raw', 'orders') }}
