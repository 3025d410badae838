select * from {{ ref('dex_trades_clean') }}
