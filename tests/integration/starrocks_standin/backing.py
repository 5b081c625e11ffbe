"""The MariaDB side: connections to the backing database, session time zone, result conversion."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pymysql
from mysql_mimic.results import ResultColumn
from mysql_mimic.types import ColumnType

from tests.integration.starrocks_standin.errors import StarRocksError
from tests.integration.starrocks_standin.translate import CURRENT_USER_FUNCTION

_OFFSET = re.compile(r"^[+-]\d{1,2}:\d{2}$")


@dataclass(frozen=True)
class BackingServer:
    """Where the MariaDB server is (the stand-in connects as this user; clients never see it)."""

    host: str
    port: int
    user: str
    password: str

    @classmethod
    def from_url(cls, url: str) -> tuple[BackingServer, str]:
        """(server, database) of mysql://user[:pw]@host:port/db."""
        parts = urlsplit(url)
        server = cls(parts.hostname or "127.0.0.1", parts.port or 3306, unquote(parts.username or "root"),
                     unquote(parts.password or ""))
        return server, unquote(parts.path.lstrip("/"))

    def connect(self, database: str | None) -> pymysql.connections.Connection:
        """An autocommit connection; FOUND_ROWS so UPDATE reports the rows it matched, as StarRocks does."""
        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, charset="utf8mb4", autocommit=True,
                               client_flag=pymysql.constants.CLIENT.FOUND_ROWS)


def utc_offset(zone: str) -> str:
    """'+08:00' for a StarRocks time_zone value: a UTC offset or a tz database name, case-insensitive; CST is
    Asia/Shanghai (docs/en/administration/management/timezone.md, "Time zone format"). Unknown: ErrorCode
    ERR_UNKNOWN_TIME_ZONE (1298) "Unknown or incorrect time zone: '%s'"."""
    value = str(zone).strip()
    if _OFFSET.match(value):
        sign, rest = value[0], value[1:]
        hours, minutes = rest.split(":")
        return f"{sign}{int(hours):02d}:{minutes}"
    name = "Asia/Shanghai" if value.upper() == "CST" else value
    if name.upper() == "UTC":
        return "+00:00"
    try:
        offset = dt.datetime.now(ZoneInfo(_tz_name(name))).utcoffset() or dt.timedelta(0)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StarRocksError(f"Unknown or incorrect time zone: '{zone}'", 1298, "HY000") from exc
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@functools.lru_cache(maxsize=64)
def _tz_name(name: str) -> str:
    # Time zone names are not case-sensitive in StarRocks; zoneinfo's are.
    import zoneinfo

    for known in zoneinfo.available_timezones():
        if known.lower() == name.lower():
            return known
    return name


def ensure_current_user_function(conn: pymysql.connections.Connection) -> None:
    """The function a translated current_user() calls (see translate.CURRENT_USER_FUNCTION)."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE FUNCTION IF NOT EXISTS {CURRENT_USER_FUNCTION}() RETURNS VARCHAR(512) "
                    "CHARSET utf8mb4 NOT DETERMINISTIC NO SQL RETURN @standin_current_user")


def result_columns(description: tuple[tuple[Any, ...], ...]) -> list[ResultColumn]:
    """Result columns with the MySQL types MariaDB reported (so clients decode dates, decimals, ...)."""
    columns = []
    for d in description:
        try:
            kind = ColumnType(d[1])
        except ValueError:
            kind = ColumnType.VAR_STRING
        if kind in (ColumnType.NULL, ColumnType.TIMESTAMP2, ColumnType.DATETIME2, ColumnType.TIME2):
            kind = ColumnType.VAR_STRING
        columns.append(ResultColumn(name=d[0], type=kind))
    return columns
