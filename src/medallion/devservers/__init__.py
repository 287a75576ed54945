"""Throwaway local database servers for demos and tests: `pgserver.PgServer` (PostgreSQL, initdb
+ pg_ctl) and `mysqlserver.MySqlServer` (MariaDB), each a private server under a directory of its
own, listening on 127.0.0.1 on a free port, started, stopped (or crashed, for the crash tests) and
removed by the caller. `medallion demo -t oltp` starts a PgServer at run time and the database
tests start their own. A leaf of the package: it imports nothing else from medallion."""
