select * from {{ source('dex', 'trades') }}
