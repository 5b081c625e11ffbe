"""StarRocks' error answers, as its FE sends them over the MySQL protocol.

The FE answers most errors with code 1064 and SQLSTATE HY000: `MysqlErrPacket` starts from
`errorCode = 1064`, `sqlState = "HY000"` and only overrides them when the failed statement set an
explicit `ErrorCode` (fe/fe-core/src/main/java/com/starrocks/mysql/MysqlErrPacket.java). Every
message text below is copied from StarRocks' source or docs, named next to it.
"""

from __future__ import annotations

import uuid

# fe/fe-core/src/main/java/com/starrocks/mysql/MysqlErrPacket.java: the default code and state.
DEFAULT_CODE = 1064
DEFAULT_SQLSTATE = "HY000"
# fe/fe-core/src/main/java/com/starrocks/common/ErrorCode.java: the explicit codes the stand-in uses.
ERR_ACCESS_DENIED = (1045, "28000")  # ERR_ACCESS_DENIED_ERROR "Access denied for user '%s' (using password: %s)"
ERR_BAD_DB = (1049, "42000")  # ERR_BAD_DB_ERROR "Unknown database '%s'"
ERR_UNKNOWN_SYSTEM_VARIABLE = (1193, "HY000")  # ERR_UNKNOWN_SYSTEM_VARIABLE "Unknown system variable '%s'"
ERR_DB_CREATE_EXISTS = (1007, "HY000")  # ERR_DB_CREATE_EXISTS "Can't create database '%s'; database exists"
ERR_DB_DROP_EXISTS = (1008, "HY000")  # ERR_DB_DROP_EXISTS "Can't drop database '%s'; database doesn't exist"


class StarRocksError(Exception):
    """An error the stand-in answers the way a StarRocks FE would (code, SQLSTATE, message)."""

    def __init__(self, message: str, code: int = DEFAULT_CODE, sqlstate: str = DEFAULT_SQLSTATE) -> None:
        super().__init__(message)
        self.message, self.code, self.sqlstate = message, code, sqlstate


class StandinRefused(Exception):
    """A Stream Load write StarRocks would refuse (raised by `StarRocksStandin.write_rows`)."""

    def __init__(self, message: str, filtered: int = 0) -> None:
        super().__init__(message)
        self.message, self.filtered = message, filtered


def syntax_error(sql: str, token: str | None, detail: str | None = None) -> StarRocksError:
    """The parser's answer: "Getting syntax error at line L, column C. Detail message: Unexpected input 'x', ..."

    Text: fe/fe-core/src/main/java/com/starrocks/sql/parser/ParsingException.java via SqlParser (its unit test
    SqlParserTest asserts "Getting syntax error at line 1, column 14. Detail message: Unexpected input 'tbl',
    the most similar input is {<EOF>, ';'}."). The "most similar input" set is ANTLR's; the stand-in names only
    the unexpected token.
    """
    line, column = 1, 0
    if token:
        at = sql.lower().find(token.lower())
        if at >= 0:
            line = sql.count("\n", 0, at) + 1
            column = at - (sql.rfind("\n", 0, at) + 1)
    what = detail or (f"Unexpected input '{token}'" if token else "Unexpected input")
    return StarRocksError(f"Getting syntax error at line {line}, column {column}. Detail message: {what}.")


def label_already_used(label: str) -> StarRocksError:
    """fe/fe-core/src/main/java/com/starrocks/common/LabelAlreadyUsedException.java (a DdlException, no
    explicit code, so 1064/HY000): "Label [<label>] has already been used." — for a running (PREPARE,
    PREPARED) as for a finished (COMMITTED, VISIBLE) transaction of that label."""
    return StarRocksError(f"Label [{label}] has already been used.")


def insert_filtered(host: str) -> StarRocksError:
    """docs/en/loading/InsertInto.md ("Transaction fails"): ERROR 1064 (HY000): Insert has filtered data in
    strict mode, tracking_url=http://x.x.x.x:yyyy/api/_load_error_log?file=error_log_..."""
    return StarRocksError(
        "Insert has filtered data in strict mode, "
        f"tracking_url=http://{host}:8040/api/_load_error_log?file=error_log_{uuid.uuid4().hex}"
    )


# be/src/storage/memtable.cpp: Status::Cancelled("primary key size exceed the limit.") when
# PrimaryKeyEncoder::encode_exceed_limit(...) is true (limit: BE config primary_key_limit_size, 128).
PRIMARY_KEY_TOO_LONG = "primary key size exceed the limit."

# docs/en/loading/StreamLoad.md / Stream Load result "Message": a load whose filtered rows exceed
# max_filter_ratio (0 by default) fails with "too many filtered rows".
TOO_MANY_FILTERED_ROWS = "too many filtered rows"


def analyzing_error(detail: str, sql: str | None = None, span: tuple[int, int] | None = None) -> StarRocksError:
    """A SemanticException as the FE prints it: "Getting analyzing error from line 1, column 24 to line 1,
    column 40. Detail message: ..." when the node has a position (0-based columns, the end is the node's last
    character), else "Getting analyzing error. Detail message: ..." (fe/fe-core/src/main/java/com/starrocks/
    sql/analyzer/SemanticException.java; e.g. FrontendServiceImplTest asserts "Getting analyzing error from
    line 1, column 24 to line 1, column 40. Detail message: No matching function with signature:
    str_to_date(varchar).")."""
    if sql is None or span is None:
        return StarRocksError(f"Getting analyzing error. Detail message: {detail}")
    (l1, c1), (l2, c2) = (_line_col(sql, span[0]), _line_col(sql, span[1]))
    return StarRocksError(f"Getting analyzing error from line {l1}, column {c1} to line {l2}, column {c2}. "
                          f"Detail message: {detail}")


def _line_col(sql: str, offset: int) -> tuple[int, int]:
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1)


def no_matching_function(name: str, arg_types: list[str], sql: str | None = None,
                         span: tuple[int, int] | None = None) -> StarRocksError:
    """fe/fe-core/src/main/java/com/starrocks/sql/analyzer/ExpressionAnalyzer.java: a call no builtin (nor UDF)
    matches: String.format("No matching function with signature: %s(%s).", fnName, argTypes), raised as a
    SemanticException at the call's position (see analyzing_error)."""
    return analyzing_error(f"No matching function with signature: {name}({', '.join(arg_types)}).", sql, span)


def replication_too_high(table: str, backend_ids: list[int], default: int) -> StarRocksError:
    """fe/fe-core/src/main/java/com/starrocks/server/LocalMetastore.java (DdlException): "Table replication num
    should be less than or equal to the number of available BE nodes. You can change this default by setting
    the replication_num table properties. Current alive backend is [%s]. " — docs/en/faq (shared-data
    deployment FAQ) shows the full answer ending ", table=orders1, default_replication_num=3"."""
    ids = ",".join(str(i) for i in backend_ids)
    return StarRocksError(
        "Table replication num should be less than or equal to the number of available BE nodes. "
        "You can change this default by setting the replication_num table properties. "
        f"Current alive backend is [{ids}]. , table={table}, default_replication_num={default}"
    )


def access_denied(user: str) -> str:
    """ErrorCode.ERR_ACCESS_DENIED_ERROR (1045, 28000): "Access denied for user '%s' (using password: %s)"."""
    return f"Access denied for user '{user}' (using password: YES)"


def unknown_database(name: str) -> StarRocksError:
    """ErrorCode.ERR_BAD_DB_ERROR (1049, 42000): "Unknown database '%s'"."""
    return StarRocksError(f"Unknown database '{name}'", *ERR_BAD_DB)


def unknown_variable(name: str) -> StarRocksError:
    """ErrorCode.ERR_UNKNOWN_SYSTEM_VARIABLE (1193, HY000): "Unknown system variable '%s'"."""
    return StarRocksError(f"Unknown system variable '{name}'", *ERR_UNKNOWN_SYSTEM_VARIABLE)
