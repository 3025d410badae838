{{
    config(
        materialized="incremental",
        unique_key="order_id",
        incremental_strategy="delete+insert",
        on_schema_change="append_new_columns",
        tags=["hourly"],
    )
}}

select
    order_id,
    customer_id,
    product_id,
    category_code,
    status,
    quantity,
    unit_price,
    order_total,
    amount_paid,
    payment_count,
    is_fully_paid,
    is_revenue,
    ordered_at,
    order_date,
    updated_at
from {{ ref('int_orders_enriched') }}

{% if is_incremental() %}
where updated_at > (select coalesce(max(updated_at), timestamp '1900-01-01') from {{ this }})
{% endif %}
