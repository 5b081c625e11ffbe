"""Network security in production settings (issue 10 §8): no password in clear off this machine by default.

The decision (blocks/transport.py) is tested as a table, then for real on every client DataWiz opens, against
this host's non-loopback address (eth0) — a byte relay there forwards to the real local service and counts the
connections it accepts, so "refused" means *no packet left*, not "the server was unreachable":
- MySQL/MariaDB: a password user over 127.0.0.1 without TLS works; the same through eth0 is refused (0
  connections); `?allow_insecure=1` opts in and works; `tls=true` never falls back to plain text; a
  throw-away MariaDB with a private CA proves verified TLS over eth0 (and that a wrong name or CA fails);
- StarRocks Stream Load: basic auth to an http:// FE on eth0 is refused, and so is an FE on loopback that
  redirects to a BE on eth0 over http (the password would follow the redirect);
- Azure: an http:// Blob endpoint on eth0 (Azurite behind the relay) is refused, Azurite on 127.0.0.1 is not;
- SMTP: login over plain SMTP to a server on eth0 is refused; STARTTLS there works; the opt-in works.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pymysql
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prefect_email import EmailServerCredentials
from pydantic import SecretStr

from blocks.azure import ENV_ALLOW_INSECURE, AzureBlobSource
from blocks.email import DataWizEmail
from blocks.source import SourceConfigError
from blocks.transport import InsecureTransport, is_loopback, require_encryption
from blocks.warehouse import resolve_warehouse
from blocks.warehouse.mysql import MySQLWarehouse
from blocks.warehouse.stream_load import HttpSettings, StreamLoadClient
from datawiz.core.errors import ConfigError, is_transient
from tasks.notify import deliver, render
from tests.integration.azurite import AZURITE_ACCOUNT, AZURITE_KEY, azurite, free_port  # noqa: F401
from tests.integration.fake_starrocks import FakeStarRocks
from tests.integration.services import stop_process
from tests.integration.smtp import SMTP_USER, Mailbox, self_signed
from tests.netutil import certificates, host_address
from tests.reliability.conftest import Tally

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
PASSWORD = "N3t-S3cur1ty;pw@x"
MARIADBD = "/usr/sbin/mariadbd"


ETH0 = host_address()
needs_eth0 = pytest.mark.skipif(ETH0 is None, reason="no non-loopback IPv4 address on this host")


class Relay:
    """A TCP relay on (host, free port) to a local target; counts the connections it accepted."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0
        self._server = socket.create_server((host, 0))
        self.host, self.port = host, self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop = True
        self._server.close()


@contextlib.contextmanager
def relay(target: tuple[str, int]) -> Iterator[Relay]:
    assert ETH0 is not None
    r = Relay(ETH0, target)
    try:
        yield r
    finally:
        r.close()


# ------------------------------------------------------------------------------------------ the decision
@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("localhost", True), ("LOCALHOST.", True), ("10.0.0.5", False), ("192.0.2.2", False), ("db.internal", False),
    ("localhost.evil.example", False), ("127.0.0.1.nip.io", False), ("", False), (None, False),
])
def test_loopback_is_decided_without_dns(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("host", "encrypted", "secret", "opt_in", "allowed"), [
    ("db.internal", True, True, False, True),  # TLS: always
    ("db.internal", False, False, False, True),  # nothing secret to send
    ("127.0.0.1", False, True, False, True),  # never leaves the machine
    ("db.internal", False, True, True, True),  # explicit opt-in
    ("db.internal", False, True, False, False),  # the default refuses
    ("10.1.2.3", False, True, False, False),
])
def test_decision_table(host: str, encrypted: bool, secret: bool, opt_in: bool, allowed: bool, tally: Tally) -> None:
    tally.fault("transport:decision")
    try:
        require_encryption("x", host, encrypted=encrypted, has_secret=secret, allow_insecure=opt_in, how_to_fix="fix")
        refused = None
    except InsecureTransport as exc:
        refused = exc
    assert (refused is None) is allowed
    if refused is not None:
        assert host in str(refused) and "allow_insecure" in str(refused) and not is_transient(refused)


def test_mysql_tls_context_checks_host_name_even_without_a_ca_file() -> None:
    """pymysql given a dict without a CA would switch host-name checks off; DataWiz builds the context itself."""
    verified = MySQLWarehouse(host="db.internal", database="dw", tls=True).ssl_context()
    assert verified is not None and verified.check_hostname and verified.verify_mode == ssl.CERT_REQUIRED
    unverified = MySQLWarehouse(host="db.internal", database="dw", tls=True, ssl_verify=False).ssl_context()
    assert unverified is not None and not unverified.check_hostname and unverified.verify_mode == ssl.CERT_NONE
    assert MySQLWarehouse(host="db.internal", database="dw").ssl_context() is None
    url = resolve_warehouse("mysql://etl:pw@db.internal/dw?allow_insecure=1&ssl_verify=false")
    assert url.allow_insecure is True and url.ssl_verify is False


# ------------------------------------------------------------------------------------------ MySQL / MariaDB
@pytest.fixture
def password_user(mysql_url: str, admin_connection: pymysql.connections.Connection) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password, allowed from anywhere, on the test database: (user, database)."""
    user, database = f"dw_sec_{uuid.uuid4().hex[:8]}", mysql_url.rsplit("/", 1)[1]
    with admin_connection.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, PASSWORD))
        cur.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (user, PASSWORD))
        cur.execute(f"GRANT ALL ON `{database}`.* TO %s@'%%'", (user,))
        cur.execute(f"GRANT ALL ON `{database}`.* TO %s@'localhost'", (user,))
    yield user, database
    with admin_connection.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        cur.execute("DROP USER IF EXISTS %s@'localhost'", (user,))


def test_mysql_password_over_loopback_without_tls_works(password_user: tuple[str, str], tally: Tally) -> None:
    user, database = password_user
    wh = resolve_warehouse(f"mysql://{user}:{PASSWORD.replace('@', '%40')}@127.0.0.1:3306/{database}")
    try:
        assert wh.query("SELECT 1 AS one")["one"][0].as_py() == 1
    finally:
        wh.close()
    tally.run()


@needs_eth0
def test_mysql_password_to_a_non_loopback_host_is_refused_unless_opted_in(
    password_user: tuple[str, str], tally: Tally
) -> None:
    user, database = password_user
    pw = PASSWORD.replace("@", "%40").replace(";", "%3B")
    with relay(("127.0.0.1", 3306)) as r:
        base = f"mysql://{user}:{pw}@{r.host}:{r.port}/{database}"
        wh = resolve_warehouse(base)
        with pytest.raises(InsecureTransport) as refused:
            wh.query("SELECT 1 AS one")
        tally.fault("transport:mysql-plain-non-loopback")
        assert r.accepted == 0, "nothing may be sent before the refusal"
        assert PASSWORD not in str(refused.value) and "tls=true" in str(refused.value)
        # tls=true to a server without TLS: an error, never a silent fall-back to plain text.
        tls = resolve_warehouse(base + "?tls=true&ssl_verify=false&connect_timeout=5")
        with pytest.raises(pymysql.err.OperationalError) as no_tls:
            tls.query("SELECT 1 AS one")
        assert PASSWORD not in str(no_tls.value)
        tally.fault("transport:mysql-tls-required")
        # The explicit opt-in reaches the real MariaDB through eth0.
        opted = resolve_warehouse(base + "?allow_insecure=1")
        try:
            assert opted.query("SELECT 1 AS one")["one"][0].as_py() == 1
        finally:
            opted.close()
        assert r.accepted >= 2
    tally.run(2)


# ------------------------------------------------------------------------------------------ StarRocks
def _client(url: str, fake: FakeStarRocks, **kw: object) -> StreamLoadClient:
    return StreamLoadClient(url, "dw", fake.user, fake.password, http=HttpSettings(timeout=10, continue_timeout=2),
                            poll_seconds=0.01, **kw)


def _batch() -> pa.Table:
    return pa.table({"id": [1, 2], "name": ["a", "b"]})


class _FakeWithRemoteBE(FakeStarRocks):
    """The fake pair whose FE can redirect to a BE address set by the test (a relay on eth0)."""

    remote_be: str | None = None

    @property
    def be_url(self) -> str:
        return self.remote_be or super().be_url


@needs_eth0
def test_stream_load_basic_auth_never_goes_in_clear_off_this_host(tally: Tally) -> None:
    fake = _FakeWithRemoteBE(keys={"t": ["id"]})
    try:
        fe_port = int(fake.fe_url.rsplit(":", 1)[1])
        with relay(("127.0.0.1", fe_port)) as r:
            with pytest.raises(InsecureTransport, match="https"):
                _client(f"http://{r.host}:{r.port}", fake).load("t", _batch(), "lbl-fe-eth0")
            assert r.accepted == 0
            tally.fault("transport:streamload-fe-plain")
        # FE on loopback, BE behind eth0: the redirect would carry the password off the machine.
        be_port = int(fake.be_url.rsplit(":", 1)[1])
        with relay(("127.0.0.1", be_port)) as be:
            fake.remote_be = f"http://{be.host}:{be.port}"
            with pytest.raises(InsecureTransport):
                _client(fake.fe_url, fake).load("t", _batch(), "lbl-be-eth0")
            assert be.accepted == 0 and fake.rows("t") == []
            tally.fault("transport:streamload-redirect-plain")
            outcome = _client(fake.fe_url, fake, allow_insecure=True).load("t", _batch(), "lbl-opt-in")
            assert outcome.rows_loaded == 2 and be.accepted == 1
    finally:
        fake.close()
    tally.run()


# ------------------------------------------------------------------------------------------ Azure
@needs_eth0
def test_azure_http_endpoint_off_this_host_is_refused(
    azurite: str, monkeypatch: pytest.MonkeyPatch, tally: Tally  # noqa: F811
) -> None:
    port = int(azurite.split("BlobEndpoint=http://127.0.0.1:")[1].split("/")[0])
    monkeypatch.delenv(ENV_ALLOW_INSECURE, raising=False)
    # Loopback Azurite over http: allowed.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    AzureBlobSource.from_url("az://landing").describe()
    with relay(("127.0.0.1", port)) as r:
        remote = azurite.replace(f"127.0.0.1:{port}", f"{r.host}:{r.port}")
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", remote)
        with pytest.raises(SourceConfigError) as refused:
            AzureBlobSource.from_url("az://landing")
        assert r.accepted == 0 and AZURITE_KEY not in str(refused.value) and "https" in str(refused.value)
        tally.fault("transport:azure-http-non-loopback")
        monkeypatch.setenv(ENV_ALLOW_INSECURE, "1")
        source = AzureBlobSource.from_url("az://landing")
        with contextlib.suppress(SourceConfigError):  # the container may not exist: the request went out
            source.list_files(["x/"])
        assert r.accepted >= 1
    assert AZURITE_ACCOUNT in azurite
    tally.run()


# ------------------------------------------------------------------------------------------ SMTP
@contextlib.contextmanager
def smtp_on(host: str, tls: str, folder: Path) -> Iterator[tuple[int, Mailbox]]:
    """aiosmtpd with login on `host` (tls: none | starttls), like tests/integration/smtp.py but on any address."""
    mailbox = Mailbox()

    def authenticate(server: object, session: object, envelope: object, mechanism: str, data: object) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    kwargs: dict[str, object] = {"authenticator": authenticate, "auth_required": True}
    if tls == "starttls":
        kwargs.update(tls_context=self_signed(folder, host), require_starttls=True)
    else:
        kwargs["auth_require_tls"] = False
    controller = Controller(mailbox, hostname=host, port=port, **kwargs)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def _email_settings(host: str, port: int, kind: str, allow_insecure: bool = False) -> DataWizEmail:
    creds = EmailServerCredentials(smtp_server=host, smtp_port=port, smtp_type=kind, username=SMTP_USER,
                                   password=SecretStr(PASSWORD), verify=False)
    return DataWizEmail(credentials=creds, sender="datawiz@example.com", recipients=["ops@example.com"],
                        timeout_seconds=5, allow_insecure=allow_insecure)


@needs_eth0
def test_smtp_login_in_clear_off_this_host_is_refused_unless_opted_in(tmp_path: Path, tally: Tally) -> None:
    assert ETH0 is not None
    email = render("health", "health: transport check", {"results": [], "bad": [], "link": None})
    with smtp_on(ETH0, "none", tmp_path) as (port, mailbox):
        with pytest.raises(ConfigError, match="STARTTLS or SSL") as refused:
            deliver(email, _email_settings(ETH0, port, "INSECURE"))
        assert mailbox.raw == [] and PASSWORD not in str(refused.value)
        tally.fault("transport:smtp-plain-non-loopback")
        deliver(email, _email_settings(ETH0, port, "INSECURE", allow_insecure=True))
        mailbox.wait_for(lambda m: "transport check" in m["Subject"], timeout=10)
    with smtp_on(ETH0, "starttls", tmp_path) as (port, mailbox):
        deliver(email, _email_settings(ETH0, port, "STARTTLS"))
        _, raw, _ = mailbox.wait_for(lambda m: "transport check" in m["Subject"], timeout=10)
        assert PASSWORD.encode() not in raw
    tally.run(2)


# ------------------------------------------------------------------------------------------ a MariaDB with TLS
@dataclass
class TlsServer:
    """A private MariaDB instance that requires TLS from its password user."""

    port: int
    ca: Path
    user: str = "dw_tls"
    database: str = "dw_tls"


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A second, throw-away mariadbd (own datadir, socket and port; the shared server is untouched) with TLS."""
    if ETH0 is None or not shutil.which("mariadb-install-db") or not Path(MARIADBD).exists():
        pytest.skip("needs mariadb-install-db, mariadbd and a non-loopback address")
    folder = tmp_path_factory.mktemp("tls-mariadb")
    data, sock = folder / "data", folder / "mysqld.sock"
    ca, cert, key = certificates(folder, ["127.0.0.1", ETH0])
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=socket", "--skip-test-db"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [MARIADBD, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}", "--bind-address=0.0.0.0",
         "--user=root", f"--pid-file={folder / 'mysqld.pid'}", f"--log-error={folder / 'error.log'}",
         f"--ssl-ca={ca}", f"--ssl-cert={cert}", f"--ssl-key={key}", "--innodb-buffer-pool-size=16M",
         "--skip-log-bin", "--skip-name-resolve"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"TLS MariaDB did not start: {(folder / 'error.log').read_text()[-2000:]}")
            time.sleep(0.2)
        server = TlsServer(port, ca)
        sql = (f"CREATE DATABASE {server.database}; CREATE USER '{server.user}'@'%' IDENTIFIED BY '{PASSWORD}' "
               f"REQUIRE SSL; GRANT ALL ON {server.database}.* TO '{server.user}'@'%';")
        subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql], check=True,
                       capture_output=True)
        yield server
    finally:
        stop_process(proc, timeout=30)


def _tls_url(server: TlsServer, host: str, options: str) -> str:
    return f"mysql://{server.user}:{quote(PASSWORD, safe='')}@{host}:{server.port}/{server.database}?{options}"


@needs_eth0
def test_mysql_tls_with_verified_identity_over_the_network(tls_mariadb: TlsServer, tally: Tally) -> None:
    """TLS to the eth0 address with the private CA: the certificate and the host name are checked, and the session
    is encrypted (the server's own Ssl_cipher); the wrong name, or no CA, fails — never a plain fall-back."""
    assert ETH0 is not None
    wh = resolve_warehouse(_tls_url(tls_mariadb, ETH0, f"tls=true&ssl_ca={tls_mariadb.ca}"))
    try:
        cipher = wh.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")["Value"][0].as_py()
        assert cipher, "the session is not encrypted"
    finally:
        wh.close()
    tally.run()
    # The same CA, but a name the certificate does not carry: the host-name check refuses it.
    wrong_name = resolve_warehouse(_tls_url(tls_mariadb, "localhost", f"tls=true&ssl_ca={tls_mariadb.ca}"))
    with pytest.raises(pymysql.err.OperationalError, match="(?i)certificate|hostname|match"):
        wrong_name.query("SELECT 1")
    tally.fault("transport:mysql-tls-wrong-host-name")
    # No CA given: the system trust store does not know the private CA.
    no_ca = resolve_warehouse(_tls_url(tls_mariadb, ETH0, "tls=true"))
    with pytest.raises(pymysql.err.OperationalError, match="(?i)certificate"):
        no_ca.query("SELECT 1")
    tally.fault("transport:mysql-tls-unknown-ca")
    # Encrypted without authenticating the server: an explicit, documented weaker setting.
    unverified = resolve_warehouse(_tls_url(tls_mariadb, ETH0, "tls=true&ssl_verify=false"))
    try:
        assert unverified.query("SELECT 1 AS one")["one"][0].as_py() == 1
    finally:
        unverified.close()
    # Without tls=true DataWiz refuses before connecting. With the opt-in, pymysql (>= 2.2.8) still tries TLS
    # opportunistically — unverified, so an active attacker could strip it: the reason the rule wants tls=true.
    with pytest.raises(InsecureTransport):
        resolve_warehouse(_tls_url(tls_mariadb, ETH0, "connect_timeout=5")).query("SELECT 1")
    tally.fault("transport:mysql-plain-refused")
    opted = resolve_warehouse(_tls_url(tls_mariadb, ETH0, "allow_insecure=true"))
    try:
        assert opted.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")["Value"][0].as_py()  # REQUIRE SSL held
    finally:
        opted.close()
    tally.run()
