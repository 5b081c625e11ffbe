"""The functions StarRocks 3.3 documents, and the check that refuses a call to any other.

StarRocks resolves every call against its builtin catalogue (then UDFs); a name it does not know is
answered "No matching function with signature: name(types)." (errors.no_matching_function). The
stand-in runs the SQL on MariaDB, which knows functions StarRocks does not (and the other way
round), so the check is made here, on the statement as the client wrote it, against the names the
StarRocks docs list: docs/en/sql-reference/sql-functions/<group>/<function>.md (groups below).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp, tokens
from sqlglot.dialects.starrocks import StarRocks

from tests.integration.starrocks_standin.errors import no_matching_function

STARROCKS_FUNCTIONS: frozenset[str] = frozenset({
    # docs/en/sql-reference/sql-functions/aggregate-functions/
    "count", "sum", "min", "max", "avg", "any_value", "approx_count_distinct", "array_agg", "bitmap_union",
    "bitmap_union_count", "group_concat", "max_by", "min_by", "multi_distinct_count",
    "multi_distinct_sum", "percentile_approx", "percentile_cont", "percentile_disc", "stddev", "stddev_pop",
    "stddev_samp", "variance", "var_pop", "var_samp", "variance_pop", "variance_samp",
    "retention", "window_funnel", "hll_union_agg", "corr", "covar_pop", "covar_samp",
    # docs/en/sql-reference/sql-functions/Window_function.md
    "row_number", "rank", "dense_rank", "ntile", "lead", "lag", "first_value", "last_value", "cume_dist",
    "percent_rank",
    # docs/en/sql-reference/sql-functions/condition-functions/
    "coalesce", "if", "ifnull", "nullif",
    # docs/en/sql-reference/sql-functions/date-time-functions/
    "now", "current_timestamp", "localtime", "localtimestamp", "utc_timestamp", "utc_time", "curdate",
    "current_date", "curtime", "current_time", "date_trunc", "time_slice", "date_slice", "days_add", "days_sub",
    "days_diff", "hours_add", "hours_sub", "hours_diff", "minutes_add", "minutes_sub", "minutes_diff",
    "seconds_add", "seconds_sub", "seconds_diff", "weeks_add", "weeks_sub", "weeks_diff", "months_add",
    "months_sub", "months_diff", "years_add", "years_sub", "years_diff", "quarters_add", "quarters_sub",
    "milliseconds_add", "milliseconds_sub", "microseconds_add", "microseconds_sub", "add_months", "adddate",
    "subdate", "date_add", "date_sub", "datediff", "date_diff", "timediff", "timestampadd", "timestampdiff",
    "date_format", "str_to_date", "str2date", "to_date", "to_days", "from_days", "unix_timestamp",
    "from_unixtime", "year", "month", "day", "dayofmonth", "dayofweek", "dayofweek_iso", "dayofyear", "week",
    "weekofyear", "week_iso", "quarter", "hour", "minute", "second", "monthname", "dayname", "last_day",
    "makedate", "convert_tz", "date", "timestamp", "yearweek", "next_day", "previous_day", "to_iso8601",
    "to_tera_date", "to_tera_timestamp", "jodatime_format", "str_to_jodatime", "time_to_sec", "sec_to_time",

    # docs/en/sql-reference/sql-functions/string-functions/
    "concat", "concat_ws", "lpad", "rpad", "trim", "ltrim", "rtrim", "upper", "ucase", "lower", "lcase",
    "length", "char_length", "character_length", "replace", "split", "split_part", "substr", "substring",
    "substring_index", "left", "right", "locate", "instr", "strleft", "strright", "reverse", "repeat", "space",
    "starts_with", "ends_with", "ascii", "char", "hex", "unhex", "md5", "sha2", "md5sum", "money_format",
    "null_or_empty", "format_bytes", "find_in_set", "str_to_map", "translate", "url_extract_host",
    "url_extract_parameter", "url_encode", "url_decode", "crc32",
    # docs/en/sql-reference/sql-functions/like-predicate-functions/
    "like", "regexp", "regexp_extract", "regexp_extract_all", "regexp_replace", "regexp_split",
    # docs/en/sql-reference/sql-functions/math-functions/
    "abs", "floor", "ceil", "ceiling", "round", "dround", "truncate", "mod", "fmod", "pmod", "pow", "power",
    "sqrt", "exp", "ln", "log", "log2", "log10", "sign", "greatest", "least", "rand", "random", "pi", "e",
    "positive", "negative", "conv", "bin", "degrees", "radians", "sin", "cos", "tan", "asin", "acos",
    "atan", "atan2", "cot", "square",
    # docs/en/sql-reference/sql-functions/json-functions/
    "parse_json", "json_query", "json_exists", "json_length", "json_keys", "json_object", "json_array",
    "json_string", "get_json_string", "get_json_int", "get_json_double", "get_json_object", "json_each",
    "to_json",
    # docs/en/sql-reference/sql-functions/array-functions/
    "array_contains", "array_contains_all", "array_length", "cardinality", "array_position", "array_join",
    "array_append", "array_concat", "array_distinct", "array_sort", "array_slice", "array_filter", "array_map",
    "array_remove", "array_sum", "array_min", "array_max", "array_avg", "array_to_bitmap", "arrays_overlap",
    "element_at", "unnest", "array_generate", "array_intersect",
    # docs/en/sql-reference/sql-functions/table-functions/ (generate_series: v3.1+; files: v3.1+)
    "generate_series", "files",
    # docs/en/sql-reference/sql-functions/utility-functions/
    "current_version", "version", "current_role", "current_user", "user", "session_user", "database",
    "schema", "connection_id", "last_query_id", "sleep", "uuid", "uuid_numeric", "host_name", "isnull",
    "isnotnull", "assert_true", "get_query_profile",
    # docs/en/sql-reference/sql-functions/cryptographic-functions/, hash-functions/
    "murmur_hash3_32", "xx_hash3_64", "aes_encrypt", "aes_decrypt", "to_base64", "from_base64", "sm3",
    # docs/en/sql-reference/sql-functions/bitmap-functions/ (the common ones)
    "to_bitmap", "bitmap_count", "bitmap_hash", "bitmap_empty", "bitmap_from_string", "bitmap_to_string",
})

# Calls written with function syntax that are grammar, not catalogue functions (sqlglot models them
# as Func nodes too).
_SYNTAX = frozenset({"cast", "try_cast", "case", "extract", "interval", "values", "exists", "in", "over", "row",
                     "and", "or", "not", "is", "as", "on", "using", "when", "then", "else", "select", "from", "where",
                     "join", "table", "partition", "distinct", "all", "any", "some", "array", "map", "struct"})


def called_names(sql: str) -> dict[str, tuple[int, int]]:
    """Every identifier the statement text follows by '(' (function-call shaped), lower-cased, with the span
    (first offset, offset of the closing parenthesis) of its first call."""
    toks = StarRocks.Tokenizer().tokenize(sql)
    names: dict[str, tuple[int, int]] = {}
    for i in range(len(toks) - 1):
        prev, cur = toks[i], toks[i + 1]
        if cur.token_type == tokens.TokenType.L_PAREN and prev.token_type not in (
            tokens.TokenType.STRING, tokens.TokenType.NUMBER, tokens.TokenType.L_PAREN, tokens.TokenType.R_PAREN,
        ):
            names.setdefault(prev.text.lower(), (prev.start, _closing(toks, i + 1)))
    return names


def _closing(toks: list[tokens.Token], open_at: int) -> int:
    depth = 0
    for tok in toks[open_at:]:
        depth += {tokens.TokenType.L_PAREN: 1, tokens.TokenType.R_PAREN: -1}.get(tok.token_type, 0)
        if depth == 0:
            return tok.end
    return toks[-1].end


def _candidates(node: exp.Func) -> set[str]:
    """Names under which sqlglot would have built this node (its own and its StarRocks spelling)."""
    if isinstance(node, exp.Anonymous):
        return {node.name.lower()}
    names = {n.lower() for n in type(node).sql_names()}
    text = node.sql(dialect="starrocks")
    head = text.split("(", 1)[0].strip().lower()
    if head.isidentifier():
        names.add(head)
    return names


def check_functions(
    tree: exp.Expression, sql: str, arg_type: Callable[[exp.Expression], str] | None = None
) -> None:
    """Refuse the statement if it calls a function the StarRocks docs do not list.

    The name checked is the one the client wrote: a name followed by '(' in the text that sqlglot also
    parsed as a function call (so `INSERT INTO t (a)`, `VARCHAR(64)` or `IN (...)` are not calls).
    """
    written = {k: v for k, v in called_names(sql).items() if k not in _SYNTAX}
    for node in tree.find_all(exp.Func):
        if isinstance(node, (exp.Binary, exp.Unary, exp.Connector)):
            continue  # operators (a AND (b), NOT (c)) are not calls
        for name in _candidates(node) & written.keys():
            if name not in STARROCKS_FUNCTIONS:
                typer = arg_type or literal_type
                raise no_matching_function(name, [typer(a) for a in _arguments(node)], sql, written[name])


def _arguments(node: exp.Func) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [v for k, v in node.args.items() if isinstance(v, exp.Expression) and k != "order"]


def literal_type(arg: exp.Expression) -> str:
    """A StarRocks type name for an argument (Type.toSql spellings: tinyint(4), bigint(20), varchar, ...)."""
    if isinstance(arg, exp.Literal):
        if arg.is_string:
            return "varchar"
        if "." in arg.this:
            return "decimal64(18, 1)"
        value = int(arg.this)
        for bound, name in ((127, "tinyint(4)"), (32767, "smallint(6)"), (2**31 - 1, "int(11)")):
            if -bound - 1 <= value <= bound:
                return name
        return "bigint(20)"
    if isinstance(arg, exp.Boolean):
        return "boolean"
    if isinstance(arg, exp.Null):
        return "null_type"
    return "varchar(65533)"
