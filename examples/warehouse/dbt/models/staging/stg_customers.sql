select
    cast(id as integer)                   as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name        as full_name,
    lower(email)                          as email,
    upper(country_code)                   as country_code,
    coalesce(segment, 'unknown')          as segment,
    cast(is_active as boolean)            as is_active,
    cast(created_at as timestamp)         as created_at,
    cast(updated_at as timestamp)         as updated_at
from {{ source('raw', 'customers') }}
