"""Contract tests of the Stream Load client against a local FE/BE that follows the documented protocol.

No StarRocks runs on these machines; `fake_starrocks` implements what the StarRocks docs specify
(307 FE->BE redirect, Expect: 100-continue, label semantics, HTTP 200 + JSON Status, ErrorURL),
and these tests pin the client's side of that contract.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from blocks.transport import InsecureTransport
from blocks.warehouse.stream_load import (
    HttpSettings,
    StreamLoadClient,
    StreamLoadFailed,
    StreamLoadUnavailable,
    encode_batch,
    label_for,
)
from datawiz.core.errors import is_transient
from tests.integration.fake_starrocks import BUSY, MEMORY, TIMEOUT, TOO_MANY_VERSIONS, FakeStarRocks, Script, parse_body
from tests.netutil import certificates, host_address

pytestmark = pytest.mark.integration

DB, TABLE = "dw", "fact_secondary_sales"


@pytest.fixture
def fake() -> Iterator[FakeStarRocks]:
    server = FakeStarRocks(keys={TABLE: ["id"]})
    yield server
    server.close()


def client_for(fake: FakeStarRocks, password: str | None = None, **kw: object) -> StreamLoadClient:
    return StreamLoadClient(fake.fe_url, DB, fake.user, fake.password if password is None else password,
                            http=HttpSettings(timeout=10, continue_timeout=2), poll_seconds=0.01, **kw)


def small_batch(first: int = 0, n: int = 3) -> pa.Table:
    return pa.table({"id": list(range(first, first + n)), "name": [f"row {i}" for i in range(first, first + n)]})


# ------------------------------------------------------------------------------------------ protocol
def test_fe_redirects_before_the_upload_and_auth_follows_to_the_be(fake: FakeStarRocks) -> None:
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-redirect")
    assert outcome.status == "Success" and outcome.rows_loaded == 3 and not outcome.already_loaded
    fe, be = [r for r in fake.requests if r.server == "fe"], [r for r in fake.requests if r.server == "be"]
    assert len(fe) == 1 and len(be) == 1
    assert fe[0].body_bytes == 0, "the FE must answer 307 before the client uploads anything"
    assert fe[0].headers["Expect"] == "100-continue"
    assert fake.authorized(be[0].headers.get("Authorization")), "basic auth must be re-sent to the BE"
    assert be[0].headers["label"] == "lbl-redirect" and be[0].body_bytes > 0
    assert len(fake.rows(TABLE)) == 3


def test_wrong_password_is_refused_before_the_body_and_is_terminal(fake: FakeStarRocks) -> None:
    with pytest.raises(StreamLoadFailed, match="401") as err:
        client_for(fake, password="wrong").load(TABLE, small_batch(), "lbl-auth")
    assert not is_transient(err.value)
    assert fake.password not in str(err.value) and "wrong" not in str(err.value)
    assert all(r.body_bytes == 0 for r in fake.requests)
    assert fake.rows(TABLE) == []


def test_direct_be_urls_skip_the_fe(fake: FakeStarRocks) -> None:
    client_for(fake, load_urls=[fake.be_url]).load(TABLE, small_batch(), "lbl-direct")
    assert [r.server for r in fake.requests] == ["be"]


def test_success_publish_timeout_waits_until_visible(fake: FakeStarRocks) -> None:
    fake.scripts["lbl-pt"] = Script("Publish Timeout", states=["COMMITTED", "COMMITTED", "VISIBLE"])
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-pt")
    assert outcome.status == "Publish Timeout" and outcome.rows_loaded == 3
    polls = [r for r in fake.requests if "get_load_state" in r.path]
    assert len(polls) == 3 and all(fake.authorized(r.headers.get("Authorization")) for r in polls)


def test_label_already_exists_finished_is_counted_and_not_loaded_again(fake: FakeStarRocks) -> None:
    client = client_for(fake)
    client.load(TABLE, small_batch(), "lbl-once")
    again = client.load(TABLE, small_batch(), "lbl-once")
    assert again.status == "Label Already Exists" and again.already_loaded and again.rows_loaded == 3
    assert len(fake.bodies) == 1 and len(fake.rows(TABLE)) == 3


def test_label_reuse_after_a_crash_is_counted_once(fake: FakeStarRocks) -> None:
    """The BE commits, then the answer is lost (client crash / network): the retry must not load again."""
    batch = small_batch(n=5)
    label = label_for(TABLE, "facts/fis/2025/11/20/fis_20251120_001.csv", "etag-1", 0)
    fake.scripts[label] = Script("Drop")
    with pytest.raises(StreamLoadUnavailable) as err:
        client_for(fake).load(TABLE, batch, label)
    assert is_transient(err.value)
    # A new process (same deterministic label) retries:
    assert label_for(TABLE, "facts/fis/2025/11/20/fis_20251120_001.csv", "etag-1", 0) == label
    outcome = client_for(fake).load(TABLE, batch, label)
    assert outcome.already_loaded and outcome.rows_loaded == 5
    assert len(fake.bodies) == 1 and len(fake.rows(TABLE)) == 5


def test_label_already_exists_running_waits_for_the_other_attempt(fake: FakeStarRocks) -> None:
    fake.labels["lbl-running"] = "PREPARE"
    fake.scripts["lbl-running"] = Script(states=["RUNNING", "VISIBLE"])
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-running")
    assert outcome.already_loaded and fake.bodies == []


def test_running_attempt_that_aborts_frees_the_label_and_is_sent_again(fake: FakeStarRocks) -> None:
    fake.labels["lbl-aborted"] = "PREPARED"
    fake.scripts["lbl-aborted"] = Script(states=["ABORTED"])
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-aborted")
    assert outcome.status == "Success" and not outcome.already_loaded
    assert len(fake.bodies) == 1 and len(fake.rows(TABLE)) == 3


def test_fail_surfaces_the_error_url_text_and_is_terminal(fake: FakeStarRocks) -> None:
    fake.scripts["lbl-fail"] = Script("Fail")
    with pytest.raises(StreamLoadFailed) as err:
        client_for(fake).load(TABLE, small_batch(), "lbl-fail")
    message = str(err.value)
    assert "too many filtered rows" in message and "Value count does not match column count" in message
    assert not is_transient(err.value)
    assert "Authorization" not in message and fake.password not in message


def test_server_errors_and_refused_connections_are_transient(fake: FakeStarRocks) -> None:
    fake.http_error = 503
    with pytest.raises(StreamLoadUnavailable, match="503") as err:
        client_for(fake).load(TABLE, small_batch(), "lbl-503")
    assert is_transient(err.value) and fake.rows(TABLE) == []
    closed = StreamLoadClient("http://127.0.0.1:9", DB, "u", "p", http=HttpSettings(timeout=2))
    with pytest.raises(StreamLoadUnavailable) as err:
        closed.load(TABLE, small_batch(), "lbl-down")
    assert is_transient(err.value)


def test_labels_are_deterministic_and_distinct() -> None:
    a = label_for(TABLE, "p.csv", "v1", 0)
    assert a == label_for(TABLE, "p.csv", "v1", 0)
    others = {label_for(TABLE, "p.csv", "v1", 1), label_for(TABLE, "p.csv", "v2", 0),
              label_for("fact_primary_sales", "p.csv", "v1", 0), label_for(TABLE, "q.csv", "v1", 0)}
    assert a not in others and len(others) == 4
    assert len(a) <= 128 and all(c.isalnum() or c in "_-" for c in a)


# ------------------------------------------------------------------------------------------ encoding
NASTY = [
    'plain', None, '', 'NULL', 'null', 'say "hi", then\nleave', 'tab\there', 'back\\slash', '\\n', '"', '""',
    ',', 'ünïcödé 漢字 😀', ' lead and trail ', '\r\n', "it's", '|', 'trailing backslash\\',
]


def nasty_table(strings: list[str | None]) -> pa.Table:
    n = len(strings)
    dec = [Decimal("123456789012345678.12"), Decimal("-999999999999999999.99"), None, Decimal("0.00"),
           Decimal("-0.01")]
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "text": pa.array(strings, pa.string()),
        "amount": pa.array([dec[i % len(dec)] for i in range(n)], pa.decimal128(20, 2)),
        "day": pa.array([None if i % 7 == 3 else dt.date(1999, 12, 31) + dt.timedelta(days=i * 400)
                         for i in range(n)], pa.date32()),
        "at": pa.array([None if i % 5 == 4 else dt.datetime(2025, 3, 31, 23, 59, 59, i * 37)
                        for i in range(n)], pa.timestamp("us")),
        "flag": pa.array([None if i % 6 == 5 else i % 2 == 0 for i in range(n)], pa.bool_()),
        "big": pa.array([None if i % 4 == 2 else (-1) ** i * (2**62 + i) for i in range(n)], pa.int64()),
    })


def typed(row: dict) -> dict:
    """Text values as the BE received them -> the Python values they denote."""
    conv = {
        "id": int, "text": str, "amount": Decimal, "day": dt.date.fromisoformat,
        "at": dt.datetime.fromisoformat, "flag": lambda v: {"true": True, "false": False}[v] if isinstance(v, str)
        else bool(v), "big": int,
    }
    return {k: (None if v is None else conv[k](v)) for k, v in row.items()}


@pytest.mark.parametrize("fmt, extra", [("CSV", []), ("JSON", ["\\N", "sep\x01inside", "row\x02inside"])])
def test_encoding_round_trips_nasty_values_exactly(fake: FakeStarRocks, fmt: str, extra: list[str]) -> None:
    table = nasty_table(NASTY + extra)
    assert encode_batch(table).headers["format"] == fmt
    client_for(fake).load(TABLE, table, f"lbl-nasty-{fmt}")
    headers, body = fake.bodies[-1]
    received = [typed(r) for r in parse_body(headers, body)]
    assert received == table.to_pylist()


def test_empty_string_and_null_stay_distinct_in_csv() -> None:
    encoded = encode_batch(pa.table({"a": pa.array(["", None, "x"], pa.string())}))
    assert encoded.headers["format"] == "CSV"
    assert encoded.body == b"\x02\\N\x02x\x02"
    assert json.loads(encode_batch(pa.table({"a": ["\\N", None]})).body) == [{"a": "\\N"}, {"a": None}]


# ------------------------------------------------------------------------------------------ issue 14
def test_label_already_exists_finished_while_only_committed_waits_until_visible(fake: FakeStarRocks) -> None:
    """FINISHED covers COMMITTED (FE LabelAlreadyUsedException): the rows are not visible yet, so the
    client must poll get_load_state until VISIBLE before the batch counts as loaded."""
    fake.labels["lbl-committed"] = "COMMITTED"
    fake.scripts["lbl-committed"] = Script(states=["COMMITTED", "COMMITTED", "VISIBLE"])
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-committed")
    assert outcome.already_loaded and fake.bodies == []
    polls = [r for r in fake.requests if "get_load_state" in r.path]
    assert len(polls) == 3, "counted as loaded before the label was VISIBLE"


def test_label_finished_but_never_visible_is_not_counted(fake: FakeStarRocks) -> None:
    fake.labels["lbl-stuck"] = "COMMITTED"
    fake.scripts["lbl-stuck"] = Script(states=["COMMITTED"])
    client = client_for(fake)
    client.wait_seconds = 0.2
    with pytest.raises(StreamLoadUnavailable, match="still COMMITTED") as err:
        client.load(TABLE, small_batch(), "lbl-stuck")
    assert is_transient(err.value)


@pytest.mark.parametrize("message", [TIMEOUT, TOO_MANY_VERSIONS, MEMORY, BUSY])
def test_fail_that_the_be_calls_temporary_is_transient_and_the_retry_loads(fake: FakeStarRocks, message: str) -> None:
    """StarRocks answers every non-OK status with `Fail` (stream_load_context.cpp): a timeout, too many
    versions, a memory limit or a busy BE must be retried, not reject the file."""
    fake.scripts["lbl-transient"] = Script("Fail", message=message)
    with pytest.raises(StreamLoadUnavailable) as err:
        client_for(fake).load(TABLE, small_batch(), "lbl-transient")
    assert is_transient(err.value) and message in str(err.value)
    fake.scripts.pop("lbl-transient")
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-transient")  # the aborted label is free again
    assert outcome.status == "Success" and len(fake.rows(TABLE)) == 3


def test_fail_with_filtered_rows_stays_terminal_even_when_the_message_says_timeout(fake: FakeStarRocks) -> None:
    answer = {"Status": "Fail", "Message": "too many filtered rows; timeout", "NumberFilteredRows": 2}
    assert not is_transient(client_for(fake).failure_for(TABLE, "l", answer))


def test_json_batches_over_the_be_limit_are_cut_into_pieces_that_load(fake: FakeStarRocks) -> None:
    """The BE refuses a JSON body above streaming_load_max_batch_size_mb (stream_load.cpp); the client
    cuts it into labelled pieces under `json_max_bytes`, deterministic for the same rows."""
    fake.json_max_bytes = 4096
    rows = pa.table({"id": list(range(200)), "name": [f"needs json \x01 {i}" for i in range(200)]})
    refused = client_for(fake, json_max_bytes=10**9)
    with pytest.raises(StreamLoadFailed, match="exceed the max size"):
        refused.load(TABLE, rows, "lbl-json-big")
    outcome = client_for(fake, json_max_bytes=4096).load(TABLE, rows, "lbl-json-cut")
    assert outcome.rows_loaded == 200 and len(fake.rows(TABLE)) == 200
    sent = [h for h, _ in fake.bodies if h["label"].startswith("lbl-json-cut")]
    assert len(sent) > 1 and all(h["format"] == "JSON" and int(h["Content-Length"]) <= 4096 for h in sent)
    again = client_for(fake, json_max_bytes=4096).load(TABLE, rows, "lbl-json-cut")
    assert again.already_loaded and again.rows_loaded == 200, "a retry must reuse the same piece labels"
    assert len(fake.rows(TABLE)) == 200


ETH0 = host_address()
needs_eth0 = pytest.mark.skipif(ETH0 is None, reason="no non-loopback IPv4 address on this host")


@pytest.fixture
def remote_tls_fe(tmp_path: Path) -> Iterator[tuple[FakeStarRocks, ssl.SSLContext]]:
    """The usual production topology: FE over TLS on a non-loopback address, BE HTTP (no TLS) beside it."""
    ca, cert, key = certificates(tmp_path, [str(ETH0)])
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = FakeStarRocks(keys={TABLE: ["id"]}, host=str(ETH0), fe_ssl=server_ctx)
    yield server, ssl.create_default_context(cafile=str(ca))
    server.close()


def _tls_client(fake: FakeStarRocks, context: ssl.SSLContext, **kw: object) -> StreamLoadClient:
    return StreamLoadClient(fake.fe_url, DB, fake.user, fake.password, poll_seconds=0.01,
                            http=HttpSettings(timeout=10, continue_timeout=2, ssl_context=context), **kw)


@needs_eth0
def test_tls_fe_redirecting_to_a_plain_http_be_needs_the_load_hop_setting(
    remote_tls_fe: tuple[FakeStarRocks, ssl.SSLContext],
) -> None:
    fake, context = remote_tls_fe
    with pytest.raises(InsecureTransport, match="allow_http_load_hop=true") as err:
        _tls_client(fake, context).load(TABLE, small_batch(), "lbl-hop-default")
    assert not is_transient(err.value) and fake.password not in str(err.value)
    assert [r.server for r in fake.requests] == ["fe"] and fake.rows(TABLE) == [], "nothing reached the BE"
    with pytest.raises(InsecureTransport, match="allow_http_load_hop"):
        _tls_client(fake, context).probe_route(TABLE)  # what `datawiz check` says before any run
    outcome = _tls_client(fake, context, allow_http_load_hop=True).load(TABLE, small_batch(), "lbl-hop-on")
    assert outcome.rows_loaded == 3 and len(fake.rows(TABLE)) == 3
    route = _tls_client(fake, context, allow_http_load_hop=True).probe_route(TABLE)
    assert route.startswith(f"https://{ETH0}") and "-> http://" in route


@needs_eth0
def test_the_load_hop_setting_never_relaxes_the_fe_itself(remote_tls_fe: tuple[FakeStarRocks, ssl.SSLContext]) -> None:
    fake, _ = remote_tls_fe
    plain_fe = StreamLoadClient(f"http://{ETH0}:{fake.fe_port}", DB, fake.user, fake.password,
                                http=HttpSettings(timeout=5), allow_http_load_hop=True)
    with pytest.raises(InsecureTransport, match="https"):
        plain_fe.load(TABLE, small_batch(), "lbl-plain-fe")
    assert fake.requests == []


@needs_eth0
def test_load_state_redirect_to_a_plain_http_leader_is_checked(
    remote_tls_fe: tuple[FakeStarRocks, ssl.SSLContext],
) -> None:
    """get_load_state on a follower FE redirects to the leader (GetStreamLoadState.redirectToLeader)."""
    fake, context = remote_tls_fe
    fake.leader_url = f"http://{ETH0}:{fake.be.server_address[1]}"
    fake.labels["lbl-state"] = "VISIBLE"
    with pytest.raises(InsecureTransport):
        _tls_client(fake, context).wait_visible("lbl-state")
    assert not any(r.server == "be" and "get_load_state" in r.path for r in fake.requests)


def test_probe_route_refused_credentials_are_reported(fake: FakeStarRocks) -> None:
    with pytest.raises(StreamLoadFailed, match="credentials refused"):
        client_for(fake, password="wrong").probe_route(TABLE)
    assert client_for(fake).probe_route(TABLE).endswith(fake.be_url.split("//")[1])
