select
    cast(id as integer)                   as product_id,
    sku,
    name                                  as product_name,
    upper(category_code)                  as category_code,
    cast(unit_price as decimal(10, 2))    as unit_price,
    cast(created_at as timestamp)         as created_at
from {{ source('raw', 'products') }}
