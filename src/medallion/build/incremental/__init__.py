"""Incremental model kinds: append, merge, scd2, incremental_by_time (see base.py)."""
