{{ config(tags=["daily"]) }}

select
    p.product_id,
    p.sku,
    p.product_name,
    p.category_code,
    c.category_name,
    c.department,
    c.vat_rate,
    p.unit_price,
    p.created_at
from {{ ref('stg_products') }} as p
left join {{ ref('product_categories') }} as c
    on p.category_code = c.category_code
