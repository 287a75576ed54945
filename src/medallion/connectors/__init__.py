"""Drivers of the databases medallion reads from and publishes to: connecting, telling a
transient failure from a terminal one, retrying, and keeping secrets out of messages."""
