select event_id from {{ ref('stg_events') }}
