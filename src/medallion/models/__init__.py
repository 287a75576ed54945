"""Model files (SQL and Python), their header config, SQL analysis and the DAG."""
