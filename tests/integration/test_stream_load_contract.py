"""Contract tests of the Stream Load client against a local FE/BE that follows the documented protocol.

No StarRocks runs on these machines; `fake_starrocks` implements what the StarRocks docs specify
(307 FE->BE redirect, Expect: 100-continue, label semantics, HTTP 200 + JSON Status, ErrorURL),
and these tests pin the client's side of that contract.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest

from blocks.warehouse.stream_load import (
    HttpSettings,
    StreamLoadClient,
    StreamLoadFailed,
    StreamLoadUnavailable,
    encode_batch,
    label_for,
)
from tasks.errors import is_transient
from tests.integration.fake_starrocks import FakeStarRocks, Script, parse_body

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
    fake.labels["lbl-running"] = "RUNNING"
    fake.scripts["lbl-running"] = Script(states=["RUNNING", "VISIBLE"])
    outcome = client_for(fake).load(TABLE, small_batch(), "lbl-running")
    assert outcome.already_loaded and fake.bodies == []


def test_running_attempt_that_aborts_frees_the_label_and_is_sent_again(fake: FakeStarRocks) -> None:
    fake.labels["lbl-aborted"] = "RUNNING"
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
