"""Onboarding: a project made from what a user already has.

`files` infers sources, staging models and checks from a folder of files (`medallion init DIR
--from PATH`); `dbt` turns a dbt project into a medallion project (`medallion import dbt`).
Both write plain project files (medallion.yml, SQL models) that the user owns afterwards; the
façade (`medallion.project`) calls them, the CLI never does directly.
"""
