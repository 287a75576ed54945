"""Sources: file discovery and reading, and the bronze writer."""
