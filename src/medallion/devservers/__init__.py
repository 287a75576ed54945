"""Throwaway local database servers for demos and tests: `pgserver.PgServer` (PostgreSQL, initdb
+ pg_ctl) and `mysqlserver.MySqlServer` (MariaDB), each a private server under a directory of its
own, listening on 127.0.0.1 on a free port, started, stopped (or crashed, for the crash tests) and
removed by the caller. `medallion demo -t oltp` starts a PgServer at run time and the database
tests start their own. `sparkcluster.SparkCluster` is a Spark standalone master and one worker
from the pyspark wheel, for the tests that run on a cluster. A leaf of the package: it imports
nothing else from medallion."""
