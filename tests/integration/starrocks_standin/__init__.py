"""A StarRocks 3.3 FE stand-in for tests: a real MySQL-protocol server (mysql-mimic) that answers the SQL
DataWiz sends the way StarRocks does, storing the data in a MariaDB database.

No StarRocks runs on the test machines. Each behaviour modelled here follows StarRocks' documentation or
source, named in a comment next to it: statements are parsed as StarRocks SQL (sqlglot, read="starrocks";
what does not parse is ERROR 1064 "Getting syntax error ..."), every function call is checked against the
functions StarRocks documents (functions.py), then translated to MariaDB (translate.py) and run on the
backing database (the one of `backing_url`; client sessions get one MariaDB connection each, so temporary
tables are per session). Modelled: Primary Key upserts, the 128-byte encoded key limit, VARCHAR byte limits
and strict mode, labels, replication_num against the alive backends, temporary tables (>= 3.3.1),
asynchronous materialized views and their refreshes, session variables and time zone, the FE's SHOW
statements, scratch databases, FILES() over a local folder (`files_root`).

Layout: server.py (the server, shared state, Stream Load's write_rows), session.py (one client),
statements.py (DML, SET, queries), ddl.py (tables, views, materialized views, databases), show.py,
writes.py (the write path), catalog.py (table model), translate.py, functions.py, variables.py, errors.py
(StarRocks' error texts), backing.py (MariaDB side), files.py (FILES()).

Not modelled: partitions and buckets (parsed, ignored), bitmap/bloom-filter indexes, multi-statement
transactions (BEGIN/COMMIT are accepted, every statement commits alone), type-conversion failures and
unknown tables (MariaDB's own error is passed through), partial refresh of a view's partitions (the whole
view is recomputed), scheduled (EVERY) view refreshes, SHOW CREATE TABLE.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.mariadb import mysql_url  # noqa: F401  (the fixture the stand-in's fixture uses)
from tests.integration.starrocks_standin.errors import StandinRefused, StarRocksError
from tests.integration.starrocks_standin.server import FEATURES, StarRocksStandin

__all__ = ["FEATURES", "StandinRefused", "StarRocksError", "StarRocksStandin", "starrocks_standin"]


@pytest.fixture
def starrocks_standin(mysql_url: str) -> Iterator[StarRocksStandin]:  # noqa: F811
    """A started stand-in over a fresh MariaDB database (dropped after the test)."""
    standin = StarRocksStandin(mysql_url)
    try:
        yield standin
    finally:
        standin.close()
