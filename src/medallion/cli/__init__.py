"""The `medallion` command line: click commands (main, quarantine) and output (render)."""
