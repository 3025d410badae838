select 2 as event_id
