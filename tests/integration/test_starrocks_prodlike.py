"""The production topology, as `.env.example` describes it, against the StarRocks stand-in on eth0:
the FE's SQL port and HTTP port over TLS (a private CA), the BE's HTTP port plain (it has no TLS;
FE LoadAction redirects there), everything on a non-loopback address.

With `.env.example`'s values as they are, `datawiz check` names the one setting the load hop needs and a
load is refused before a byte reaches the BE; with exactly that setting (`STARROCKS_ALLOW_HTTP_LOAD_HOP=
true`), the same block loads. The SQL connection stays verified TLS throughout.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from blocks.transport import InsecureTransport
from blocks.warehouse.starrocks import StarRocksConnector
from deployments.blocks import warehouse_block
from tests.integration.mariadb import mysql_url  # noqa: F401  (fixture)
from tests.integration.starrocks_cluster import StarRocksCluster, start_cluster
from tests.integration.test_mysql_load_atomicity import PATH, fis_rows, load, totals
from tests.netutil import certificates, host_address

pytestmark = pytest.mark.integration

ETH0 = host_address()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def remote_cluster(mysql_url: str, tmp_path: Path) -> Iterator[tuple[StarRocksCluster, Path]]:  # noqa: F811
    if ETH0 is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    ca, cert, key = certificates(tmp_path, [ETH0])
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    cluster = start_cluster(mysql_url, host=ETH0, sql_ssl=server, fe_ssl=server)
    yield cluster, ca
    cluster.close()


def env_example_values(cluster: StarRocksCluster, ca: Path, **overrides: str) -> dict[str, str]:
    """`.env.example` as an operator fills it in for this cluster: host, ports, credentials, CA — nothing else."""
    values = {k: v for k, v in dotenv_values(REPO / ".env.example").items() if v is not None}
    assert values["DB_TYPE"] == "starrocks" and values["DB_TLS"] == "true"
    assert values["STARROCKS_HTTP_SCHEME"] == "https"
    assert "STARROCKS_ALLOW_HTTP_LOAD_HOP" not in values, ".env.example documents the setting, it does not set it"
    values.update(DB_HOST=str(ETH0), DB_PORT=str(cluster.sql.port), DB_NAME=cluster.sql.database,
                  DB_USER=cluster.sql.user, DB_PASSWORD=cluster.sql.password, DB_SSL_CA=str(ca),
                  STARROCKS_HTTP_PORT=str(cluster.http.fe_port), **overrides)
    return values


def test_env_example_loads_after_exactly_the_documented_setting(remote_cluster: tuple[StarRocksCluster, Path]) -> None:
    cluster, ca = remote_cluster
    wh = warehouse_block(env_example_values(cluster, ca))
    assert isinstance(wh, StarRocksConnector) and wh.encrypted and not wh.allow_insecure
    assert wh.migrate(), "the SQL side works over verified TLS as it is"

    with pytest.raises(InsecureTransport, match="STARROCKS_ALLOW_HTTP_LOAD_HOP=true") as told:
        wh.load_route()  # what `datawiz check` prints before any run
    assert cluster.sql.password not in str(told.value)
    with pytest.raises(InsecureTransport, match="allow_http_load_hop=true"):
        load(wh, PATH, "v1", fis_rows(5))
    assert not [r for r in cluster.http.requests if r.server == "be"], "nothing reached the BE"
    assert totals(wh)[0] == 0 and wh.ledger_versions() == set()

    opted = warehouse_block(env_example_values(cluster, ca, STARROCKS_ALLOW_HTTP_LOAD_HOP="true"))
    route = opted.load_route()
    assert route.startswith(f"https://{ETH0}:{cluster.http.fe_port} -> http://{ETH0}:") and "plain HTTP" in route
    assert load(opted, PATH, "v1", fis_rows(5)).status == "loaded"
    assert totals(opted)[0] == 5 and opted.ledger_versions() == {(PATH, "v1")}
    assert opted.encrypted and not opted.allow_insecure, "only the load hop was relaxed"


def test_datawiz_check_names_the_setting_before_any_run(remote_cluster: tuple[StarRocksCluster, Path]) -> None:
    """`datawiz check --warehouse URL` against the TLS cluster: the `stream load` line FAILs naming the
    setting; with it, the line shows the route. (The URL carries what .env.example's block carries.)"""
    from tasks.health import check_load_privileges

    cluster, ca = remote_cluster
    url = cluster.url(tls="true", ssl_ca=str(ca))
    lines = {r.target: r for r in check_load_privileges(url)}
    assert not lines["stream load"].ok and "allow_http_load_hop=true" in lines["stream load"].detail
    assert cluster.sql.password not in lines["stream load"].line()
    opted = {r.target: r for r in check_load_privileges(cluster.url(tls="true", ssl_ca=str(ca),
                                                                    allow_http_load_hop="true"))}
    assert opted["stream load"].ok and "-> http://" in opted["stream load"].detail
