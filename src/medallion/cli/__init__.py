"""The `medallion` command line: click commands (main) and output (render)."""
