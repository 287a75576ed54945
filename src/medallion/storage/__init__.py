"""Delta Lake storage: the catalog (layer/table -> folder) and table operations."""
