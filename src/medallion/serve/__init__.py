"""Faces that serve the lakehouse over a network: `pgwire`, the PostgreSQL-wire SQL endpoint.

Like the CLI, a face imports only the `Project` façade, `state.records` and `errors`."""
