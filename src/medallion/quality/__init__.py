"""Data quality: expectations (row level), checks (table level), anomalies, quarantine, ledger."""
