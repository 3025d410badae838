select c.code, count(*) as n from {{ ref('countries') }} c join {{ ref('orders') }} o on o.country = c.code group by 1
