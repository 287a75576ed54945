"""Plans and executes runs."""
