"""Pushdown loads for StarRocks: the cluster reads a Parquet file version from Azure itself.

`INSERT INTO <target> WITH LABEL <label> (<columns + lineage>) SELECT <casts>, <lineage values>
FROM FILES("path" = "wasbs://<container>@<account>.blob.core.windows.net/<path>", "format" = "parquet",
"azure.blob.storage_account" = "<account>", "azure.blob.shared_key" = "<key>")` (StarRocks >= 3.2;
property names as in StarRocks' "Authenticate to Azure cloud storage" / "Load data from Azure").

What is bound and what is inlined: the lineage values (path, version, run id) in the SELECT list are
bound by the driver. FILES() properties and the label are not parameters in StarRocks' grammar, so
they are inlined only after strict validation (`_check`): the path matches `_PATH` (and came from the
listing planned against the contract registry), the version and label are short `[A-Za-z0-9_.:-]`
tokens, the account and container follow Azure's naming rules and the key is base64. Identifiers come
from the contract registry.

The shared key travels inside the statement — StarRocks has no other way to take it for FILES() —
so the statement text is never logged, and every error raised from here is rewritten with the key
masked (`redact` plus a literal replacement) and without the driver's exception chained.

Semantics that differ from the download path (DataWiz does not see the rows): no cleaning beyond
trim/upper-case of codes and the casts to the contract types, no pandera validation, no quarantine,
no duplicate removal. The cluster decides what a bad row does: a value that fails its cast becomes NULL
and the NOT NULL column refuses the row; with the session variable `enable_insert_strict` on (StarRocks'
default) that fails the whole INSERT, with it off such rows are filtered up to `insert_max_filter_ratio`
(docs sql-reference/sql-statements/loading_unloading/INSERT, System_variable). `rows_in = rows_loaded` =
the INSERT's affected rows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from pydantic import SecretStr

from blocks.types import LedgerEntry
from blocks.warehouse import sql_builders as sb
from datawiz.core.contract import Column, TableContract
from datawiz.core.errors import TerminalError
from datawiz.core.redact import MASK, redact

_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./=-]{0,500}\.parquet")
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_KEY = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_SUFFIX = re.compile(r"[a-z0-9.-]{3,100}")
_LABEL_USED = re.compile(r"(?i)label\b.*\b(already (been )?used|already exists?)|label already exists")

# Contract column type -> StarRocks type of the cast (DECIMAL takes the column's precision/scale).
_TYPES = {"str": "VARCHAR(65533)", "int": "BIGINT", "date": "DATE", "ts": "DATETIME", "bool": "BOOLEAN"}
LINEAGE = ("_source_file", "_source_version", "_loaded_at", "_run_id")


class PushdownRefused(TerminalError, ValueError):
    """A value that cannot be placed in a FILES() statement safely, or a table pushdown cannot load.

    Terminal; still a ValueError, which callers outside DataWiz caught it as."""


@dataclass(frozen=True)
class AzureFiles:
    """Where StarRocks reads files from: one Azure Blob container, read with the account's shared key."""

    account: str
    container: str
    shared_key: SecretStr = field(repr=False)
    prefix: str = ""  # the source's folder inside the container ("" or "a/b/")
    endpoint_suffix: str = "core.windows.net"

    def __post_init__(self) -> None:
        _check(self.account, _ACCOUNT, "storage account")
        _check(self.container, _CONTAINER, "container")
        _check(self.endpoint_suffix, _SUFFIX, "endpoint suffix")
        if self.prefix:
            _check(self.prefix.rstrip("/") + "/x.parquet", _PATH, "prefix")
        if not _KEY.fullmatch(self.shared_key.get_secret_value()):
            raise PushdownRefused("the storage account key is not base64 (expected a shared key)")

    def url(self, path: str) -> str:
        """`wasbs://<container>@<account>.blob.<suffix>/<prefix><path>` of a validated path."""
        _check(path, _PATH, "path")
        if ".." in path.split("/"):
            raise PushdownRefused(f"path {path!r}: no '..' segments")
        return f"wasbs://{self.container}@{self.account}.blob.{self.endpoint_suffix}/{self.prefix}{path}"

    def files_clause(self, path: str) -> str:
        """`FILES("path" = ..., "format" = "parquet", <account>, <key>)` of one validated path (holds the key)."""
        props = ", ".join(f'"{k}" = "{v}"' for k, v in (
            ("path", self.url(path)), ("format", "parquet"),
            ("azure.blob.storage_account", self.account), ("azure.blob.shared_key", self.shared_key.get_secret_value()),
        ))
        return f"FILES({props})"

    def describe(self) -> str:
        return f"wasbs://{self.container}@{self.account}.blob.{self.endpoint_suffix}/{self.prefix} (shared key)"

    def __repr__(self) -> str:
        return f"AzureFiles({self.describe()})"

    def scrub(self, text: object) -> str:
        """`text` with the key (and anything else credential-looking) masked."""
        return redact(str(text).replace(self.shared_key.get_secret_value(), MASK))


def files_label(table: str, path: str, version: str) -> str:
    """Deterministic label of a pushdown load of one file version (distinct from Stream Load's batch labels)."""
    digest = hashlib.sha256(f"files\x00{table}\x00{path}\x00{version}".encode()).hexdigest()[:40]
    return f"datawiz_files_{table}_{digest}"[:128]


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PushdownRefused(f"{what} {value!r} cannot be used in a FILES() load (unexpected characters)")
    return value


def _cast(column: Column, s: sb.Style) -> str:
    typ = f"DECIMAL({column.precision},{column.scale})" if column.type == "dec" else _TYPES[column.type]
    expr = s.q(column.name)
    if column.type == "str":
        expr = f"upper(trim({expr}))" if column.is_code else f"trim({expr})"
    return f"CAST({expr} AS {typ})"


def insert_from_files(contract: TableContract, entry: LedgerEntry, files: AzureFiles, label: str) -> sb.Stmt:
    """The labelled INSERT ... SELECT ... FROM FILES() of one file version (lineage values bound).

    `_loaded_at` is bound too (UTC, `sb.now()`, as on the Stream Load path): StarRocks' now() reads the
    session time zone, Asia/Shanghai unless set (docs administration/management/timezone), 8 hours off.
    """
    if contract.load_mode.value != "fact_upsert":
        raise PushdownRefused(f"{contract.name}: pushdown loads fact tables only (load mode {contract.load_mode})")
    _check(entry.source_version, _TOKEN, "version")
    _check(entry.run_id, _TOKEN, "run id")
    _check(label, _TOKEN, "label")
    s = sb.PYMYSQL
    cols = ", ".join(s.q(c) for c in (*contract.column_names, *LINEAGE))
    select = ", ".join(_cast(c, s) for c in contract.columns)
    clause = files.files_clause(entry.source_file)
    sql = (
        f"INSERT INTO {contract.target_table} WITH LABEL {label} ({cols}) "
        f"SELECT {select}, {s.placeholder}, {s.placeholder}, {s.placeholder}, {s.placeholder} FROM {clause}"
    )
    return sb.Stmt(sql, (entry.source_file, entry.source_version, sb.now().replace(microsecond=0), entry.run_id))


def rows_of_file(contract: TableContract, entry: LedgerEntry) -> sb.Stmt:
    """Rows of this file version in the target (what an earlier attempt under the same label loaded)."""
    return sb.Stmt(
        f"SELECT count(*) FROM {contract.target_table} WHERE _source_file = %s AND _source_version = %s",
        (entry.source_file, entry.source_version),
    )


def label_already_used(exc: BaseException) -> bool:
    """Does the server's error say the label was used (committed) before?"""
    return bool(_LABEL_USED.search(" ".join(str(a) for a in getattr(exc, "args", ()))))
