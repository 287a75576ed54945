"""`medallion serve`: a PostgreSQL protocol (v3) server over the lakehouse, on the standard
library (threads, ssl, hashlib, struct).

backend.py   the one interface to medallion (logins, queries, the tables a user may see)
protocol.py  message framing: reading the client's messages, writing the server's
types.py     Arrow types as PostgreSQL types; DataRow encoding; Bind parameter decoding
statements.py what a statement is: transaction control, SET/SHOW, a write, a catalog probe
catalog.py   pg_catalog / information_schema answered from a per-session catalog database
session.py   one connection: startup, TLS, SCRAM, simple and extended query
server.py    the listener, a thread per connection, CancelRequest, the TLS certificate
"""
