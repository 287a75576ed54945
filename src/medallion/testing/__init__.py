"""Test helpers that need no extra dependencies (a throwaway PostgreSQL server: `pgserver`)."""
