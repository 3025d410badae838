select * from {{ source('nft', 'transfers') }} cross join {{ source('core', 'blocks') }}
