"""StarRocks SQL -> MariaDB SQL: sqlglot's MySQL generator plus the rewrites MariaDB needs.

Each rewrite keeps the StarRocks function's documented meaning (docs/en/sql-reference/sql-functions/...,
named per rewrite); the generator (`write="mysql"`) handles the rest (casts, quoting).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

# fe/fe-core/src/main/java/com/starrocks/common/Config.java: mysql_server_version — "the version string
# returned by select version(), the handshake packet and the global variable version" (8.0.33 in 3.x).
MYSQL_SERVER_VERSION = "8.0.33"
# A stored function the backing database gets, so that a view on current_user() answers for the client who
# reads it (MariaDB views cannot read user variables, but functions they call can).
CURRENT_USER_FUNCTION = "_standin_current_user"
# sqlglot parses version() and current_version() into the same node; version() is renamed to this before
# parsing so the two keep their distinct answers.
MYSQL_VERSION_MARK = "__standin_mysql_version"


def mark_mysql_version(sql: str) -> str:
    """`sql` with every call version() (not current_version(), not x.version()) renamed MYSQL_VERSION_MARK()."""
    from sqlglot import tokens
    from sqlglot.dialects.starrocks import StarRocks

    toks = StarRocks.Tokenizer().tokenize(sql)
    out, last = [], 0
    for i, tok in enumerate(toks[:-2]):
        if (tok.text.lower() == "version" and toks[i + 1].token_type == tokens.TokenType.L_PAREN
                and toks[i + 2].token_type == tokens.TokenType.R_PAREN
                and (i == 0 or toks[i - 1].token_type != tokens.TokenType.DOT)):
            out.append(sql[last:tok.start] + MYSQL_VERSION_MARK)
            last = tok.end + 1
    return "".join(out) + sql[last:]


def current_version(version: str) -> str:
    """docs/en/sql-reference/sql-functions/utility-functions/current_version.md: "2.1.2 0782ad7" — the
    release and the short commit id, separated by a space (the stand-in's commit id is made up)."""
    return f"{version} {hashlib.sha1(version.encode()).hexdigest()[:7]}"


@dataclass
class Context:
    """What a rewrite needs from the session: the version and the session variables."""

    version: str
    variables: dict[str, Any] = field(default_factory=dict)


def to_mariadb(tree: exp.Expression, ctx: Context) -> str:
    """The MariaDB text of a (StarRocks-parsed) statement."""
    return tree.copy().transform(lambda node: _rewrite(node, ctx)).sql(dialect="mysql")


def _rewrite(node: exp.Expression, ctx: Context) -> exp.Expression:
    for kind, rule in _RULES:
        if isinstance(node, kind):
            return rule(node, ctx)
    if isinstance(node, exp.Anonymous):
        rule = _ANONYMOUS.get(node.name.lower())
        if rule is not None:
            return rule(node, ctx)
    return node


def _m(node: exp.Expression, ctx: Context) -> str:
    """MariaDB text of a sub-expression, its own rewrites applied (a rule's output is not revisited)."""
    return to_mariadb(node, ctx)


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="mysql")


def _version(_: exp.Expression, ctx: Context) -> exp.Expression:
    # docs .../utility-functions/current_version.md
    return exp.Literal.string(current_version(ctx.version))


def _mysql_version(_: exp.Expression, ctx: Context) -> exp.Expression:
    # docs .../utility-functions/version.md: "the current version of the MySQL database" (Config.mysql_server_version)
    return exp.Literal.string(MYSQL_SERVER_VERSION)


def _current_user(_: exp.Expression, ctx: Context) -> exp.Expression:
    # docs .../utility-functions/current_user.md: the user identity, 'user'@'host' ('datawiz'@'%').
    return exp.Anonymous(this=CURRENT_USER_FUNCTION, expressions=[])


def _variable(node: exp.SessionParameter, ctx: Context) -> exp.Expression:
    # docs/en/sql-reference/System_variable.md: SELECT @@var reads the session (else global) value.
    from tests.integration.starrocks_standin.variables import read_variable

    value = read_variable(ctx.variables, node.name, ctx.version)
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _date_trunc(node: exp.Expression, ctx: Context) -> exp.Expression:
    """docs .../date-time-functions/date_trunc.md: date_trunc(fmt, datetime) truncates to year, quarter, month,
    week (Monday), day, hour, minute or second and returns a DATETIME."""
    unit = (node.args.get("unit") or exp.var("day")).name.lower().strip("'")
    value = _m(node.this, ctx)
    formats = {"year": "%Y-01-01 00:00:00", "month": "%Y-%m-01 00:00:00", "day": "%Y-%m-%d 00:00:00",
               "hour": "%Y-%m-%d %H:00:00", "minute": "%Y-%m-%d %H:%i:00", "second": "%Y-%m-%d %H:%i:%s"}
    if unit in formats:
        return _parse(f"CAST(DATE_FORMAT({value}, '{formats[unit]}') AS DATETIME)")
    if unit == "quarter":
        return _parse(f"CAST(MAKEDATE(YEAR({value}), 1) + INTERVAL (QUARTER({value}) - 1) QUARTER AS DATETIME)")
    if unit == "week":
        return _parse(f"CAST(DATE({value}) - INTERVAL WEEKDAY({value}) DAY AS DATETIME)")
    raise ValueError(f"date_trunc unit {unit!r}")


def _days_add(node: exp.Anonymous, ctx: Context) -> exp.Expression:
    # docs .../date-time-functions/days_add.md: days_add(date, n) adds n days.
    date, days = (_m(e, ctx) for e in node.expressions)
    return _parse(f"DATE_ADD({date}, INTERVAL ({days}) DAY)")


def _dayofweek_iso(node: exp.Expression, ctx: Context) -> exp.Expression:
    # docs .../date-time-functions/dayofweek_iso.md: ISO day of week, Monday 1 .. Sunday 7.
    return _parse(f"(WEEKDAY({_m(node.this, ctx)}) + 1)")


def _split_part(node: exp.SplitPart, ctx: Context) -> exp.Expression:
    # docs .../string-functions/split_part.md: the n-th (1-based) field; a negative n counts from the end.
    s, d, n = _m(node.this, ctx), _m(node.args["delimiter"], ctx), _m(node.args["part_index"], ctx)
    return _parse(f"SUBSTRING_INDEX(SUBSTRING_INDEX({s}, {d}, {n}), {d}, IF({n} > 0, -1, 1))")


def _parse_json(node: exp.ParseJSON, ctx: Context) -> exp.Expression:
    # docs .../json-functions/json-constructor-functions/parse_json.md: JSON from text; MariaDB JSON is text.
    return node.this


def _array_contains(node: exp.ArrayContains, ctx: Context) -> exp.Expression:
    """docs .../array-functions/array_contains.md: 1 if the array holds the element. An array cast from JSON
    (CAST(parse_json(x) AS ARRAY<VARCHAR>)) is the JSON text x in MariaDB: JSON_CONTAINS(x, JSON_QUOTE(v))."""
    array, value = node.this, node.expression
    while isinstance(array, (exp.Cast, exp.ParseJSON)):
        array = array.this
    if isinstance(array, exp.Array):
        return exp.In(this=value, expressions=array.expressions)
    return _parse(f"JSON_CONTAINS({_m(array, ctx)}, JSON_QUOTE({_m(value, ctx)}))")


def _generate_series(node: exp.TableFromRows, ctx: Context) -> exp.Expression:
    """docs .../table-functions/generate_series.md (v3.1+): TABLE(generate_series(start, end[, step])) AS g(n)
    yields start..end inclusive. MariaDB: a recursive CTE in a derived table."""
    series = node.this
    if not isinstance(series, exp.GenerateSeries):
        return node
    alias = node.args.get("alias")
    name = alias.name if alias else "generate_series"
    col = alias.columns[0].name if alias and alias.columns else "generate_series"
    start, end = _m(series.args["start"], ctx), _m(series.args["end"], ctx)
    step = _m(series.args["step"], ctx) if series.args.get("step") else "1"
    sql = (f"SELECT * FROM (WITH RECURSIVE _gs(`{col}`) AS (SELECT {start} UNION ALL SELECT `{col}` + {step} "
           f"FROM _gs WHERE `{col}` + {step} <= {end}) SELECT `{col}` FROM _gs) AS `{name}`")
    return _parse(sql).args["from_"].this


_RULES: list[tuple[type, Any]] = [
    (exp.CurrentVersion, _version),
    (exp.CurrentUser, _current_user),
    (exp.SessionParameter, _variable),
    (exp.TimestampTrunc, _date_trunc),
    (exp.DateTrunc, _date_trunc),
    (exp.DayOfWeekIso, _dayofweek_iso),
    (exp.SplitPart, _split_part),
    (exp.ArrayContains, _array_contains),
    (exp.ParseJSON, _parse_json),
    (exp.TableFromRows, _generate_series),
]
_ANONYMOUS = {"days_add": _days_add, MYSQL_VERSION_MARK: _mysql_version, "dayofweek_iso": _dayofweek_iso}
