"""FILES() over a local folder standing in for Azure Blob Storage (optional: `files_root`).

docs/en/sql-reference/sql-functions/table-functions/files.md (v3.1+): FILES("path" = "...", "format" =
"parquet", <credentials>) reads the files the path names (wildcards allowed) as a table whose columns are
the files' columns. Here wasbs://<container>@<account>.blob.core.windows.net/<path> is read from
`files_root/<path>`; each FILES() of a statement becomes a temporary table of the session holding the rows.
Only Parquet is modelled; credentials are not checked.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from tests.integration.starrocks_standin.errors import StarRocksError

if TYPE_CHECKING:
    from tests.integration.starrocks_standin.session import StandinSession

_URL = re.compile(r"^(?:wasbs?|abfss?)://[^@/]+@[^/]+/(?P<path>.+)$")
_counter = itertools.count()


def replace_files(session: StandinSession, tree: exp.Expression, root: Path) -> exp.Expression:
    """`tree` with every FILES(...) table replaced by a temporary table holding the files' rows."""
    tree = tree.copy()
    for table in list(tree.find_all(exp.Table)):
        call = table.this
        if isinstance(call, exp.Anonymous) and call.name.lower() == "files":
            name = _load(session, _properties(call), root)
            alias = table.args.get("alias")
            table.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
    return tree


def _properties(call: exp.Anonymous) -> dict[str, str]:
    props = {}
    for item in call.expressions:
        if isinstance(item, exp.EQ):
            props[item.this.name.lower()] = item.expression.name
    return props


def _load(session: StandinSession, props: dict[str, str], root: Path) -> str:
    fmt = props.get("format", "").lower()
    if fmt != "parquet":
        raise StarRocksError(f"FILES() format '{fmt}' is not modelled by the StarRocks stand-in (parquet only)")
    m = _URL.match(props.get("path", ""))
    if not m:
        raise StarRocksError(f"FILES() path '{props.get('path')}' is not an Azure Blob URL")
    paths = sorted(root.glob(m.group("path")))
    if not paths:
        # Message text not verified against StarRocks' source.
        raise StarRocksError(f"Access storage error. Error message: no files match {props['path']}")
    data = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default")
    name = f"_standin_files_{next(_counter)}"
    session.files_tables.append(name)
    cols = ", ".join(f"`{f.name}` {_mariadb_type(f.type)}" for f in data.schema)
    with session.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE `{name}` ({cols}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin")
        if data.num_rows:
            marks = ", ".join(["%s"] * data.num_columns)
            cur.executemany(f"INSERT INTO `{name}` VALUES ({marks})",
                            [tuple(r.values()) for r in data.to_pylist()])
    return name


def _mariadb_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "DATETIME(6)"
    return "LONGTEXT"
