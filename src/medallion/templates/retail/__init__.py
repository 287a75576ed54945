"""The retail template: an online shop's pandas + SQLite pipeline (seed 002), migrated."""

DESCRIPTION = (
    "Online shop sales: five CSV exports -> star schema -> daily sales, "
    "one-big-table and customer lifetime value (a pandas + SQLite pipeline, migrated)"
)
DEFAULT_ROWS = 3064  # the seed system's scale: 1000 orders, 500 customers
ROWS_UNIT = "order lines"
ORDER = 0
