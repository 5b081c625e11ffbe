"""SQL safety (issue 10 §7): every SQL statement is built from bound parameters and registry identifiers only.

The rule, precisely. Production code (blocks/, tasks/, flows/, datawiz/, deployments/) is parsed with
`ast`; every string that *looks like SQL* (a statement shape: `SELECT … FROM`, `INSERT INTO`, `DELETE FROM`,
`UPDATE … SET`, `WHERE`, `VALUES (`, `LIMIT`, `LOAD DATA`, DDL, GRANT, KILL, `IN (`, `AND`/`OR` clauses) and
is *built* — an f-string, `%` formatting, `str.format`, or `+` concatenation — may interpolate only:

1. literals (strings, numbers), module-level UPPER_CASE constants, and a module function called with literals
   only (a constant fixed in the code, e.g. a metric name in deployments/signoz's dashboard queries);
2. identifiers from the contract registry: the attributes `target_table`, `history_table`, `column_names`,
   `key`, `references`, `columns`, `name`, `precision`, `scale` of a contract/column, and the registry's
   fixed column lists (LEDGER_COLUMNS, QUARANTINE_COLUMNS, LINEAGE, LINEAGE_COLUMNS);
3. the placeholder/quoting helpers of `sql_builders.Style` (`placeholder`, `quote`, `marks(n)`, `q(identifier)`)
   and the fragment builders that only combine those (ALLOWED_FRAGMENT_FUNCS below);
4. numbers forced by `int(...)`/`len(...)`;
5. a local name, loop or comprehension variable whose every binding in the same function is itself (1)–(5),
   `", ".join(...)` / `" AND ".join(...)` of such values, a conditional of such values;
6. a function parameter listed in IDENTIFIER_PARAMS, each with the reason its callers only pass (1)–(5).

Anything else — a value of a row, a file path, a run id, a user-supplied name — must be a bound parameter
(`:name`, `?`, `%s`). `sql/` files are Jinja templates rendered with the dialect and SQL-fragment helpers only
(blocks/warehouse/sql_templates.py, never a value); rendered for each backend they must contain no formatting
markers at all (`{…}`, `%s`, `%(…)s`): their only parameters are `:name`, bound by the driver
(blocks/warehouse/base.bind_style).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.conftest import Tally

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("blocks", "tasks", "flows", "datawiz", "deployments")

SQL_SHAPE = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bREPLACE\s+INTO\b|\bDELETE\s+FROM\b|\bUPDATE\s+\S+\s+SET\b"
    r"|\bWHERE\b|\bVALUES\s*\(|\bLIMIT\b|\bLOAD\s+DATA\b|\b(CREATE|DROP|ALTER|TRUNCATE)\s+(TABLE|VIEW|USER|DATABASE"
    r"|INDEX|ROLE)\b|\bGRANT\s+\w+.*\bTO\b|\bKILL\s+(CONNECTION|QUERY)\b|\bIN\s*\(|\s(AND|OR)\s+\w+\s*(=|<>|IN\b)"
    r"|\bSET\s+\w+\s*="
)
REGISTRY_ATTRS = {"target_table", "history_table", "column_names", "key", "references", "columns", "name",
                  "precision", "scale", "type", "is_code"}
STYLE_ATTRS = {"placeholder", "quote"}
REGISTRY_CONSTANTS = {"LEDGER_COLUMNS", "QUARANTINE_COLUMNS", "LINEAGE", "LINEAGE_COLUMNS", "SUMMARY_TABLES"}
NUMERIC_CALLS = {"int", "len"}
# Fragment builders: each returns SQL made only of registry identifiers, Style placeholders and literals
# (checked by this same test, since their bodies are scanned too).
ALLOWED_FRAGMENT_FUNCS = {
    "marks": "Style.marks: n placeholders",
    "q": "Style.q: quotes a registry identifier",
    "_of_file": "sql_builders: `_source_file = ? AND _source_version = ?`",
    "_of_ledger": "sql_builders: `source_file = ? AND source_version = ?`",
    "file_version": "sql_builders: `<prefix>source_file = ? AND (...) <op> ?`, op '=' or '<>' literals at every call",
    "_missing_reference": "sql_builders: NOT EXISTS probes of a registry contract's references",
    "_cast": "files_load: CAST(<registry column> AS <type from _TYPES>)",
    "_schema_migrations_ddl": "fixed DDL text",
    "files_clause": "files_load: FILES(...) of properties each validated by AzureFiles (_check)",
    "create_database_sql": "starrocks_selftest: CREATE DATABASE of a name checked against the scratch pattern",
    "drop_database_sql": "starrocks_selftest: DROP DATABASE of a name checked against the scratch pattern",
    "probe_sql": "starrocks_selftest: SELECT 1 FROM <a table or view name parsed from our migrations>",
    "quote": "ddl.quote: backquotes a registry/template column name",
    "column_type": "ddl.column_type: a type from the _TYPES map, DECIMAL(precision,scale) or VARCHAR(int width)",
    "table_end": "ddl.table_end: key/index/partition clauses of registry or template identifiers",
    "contract_layout": "ddl.contract_layout: key/index/partition names from a registry contract's Physical hints",
    "table_columns": "ddl.table_columns: a registry contract's columns + LINEAGE",
    "width": "ddl.width: an int VARCHAR width",
}
# (file, function, parameter) -> why every caller passes only registry identifiers / validated tokens.
IDENTIFIER_PARAMS: dict[tuple[str, str, str], str] = {
    ("blocks/warehouse/sql_builders.py", "insert_values_sql", "table"): "callers pass 'etl_quarantine'",
    ("blocks/warehouse/sql_builders.py", "insert_values_sql", "columns"): "QUARANTINE_COLUMNS",
    ("blocks/warehouse/sql_builders.py", "after_upsert", "columns"): "load data's column names = contract columns "
                                                                     "+ LINEAGE (clean_table renames to them)",
    ("blocks/warehouse/sql_builders.py", "deactivate_absent", "table"): "contract.target_table",
    ("blocks/warehouse/sql_builders.py", "deactivate_absent", "key"): "contract.key[0]",
    ("blocks/warehouse/sql_builders.py", "replay_history", "verb"): "'REPLACE INTO' / 'INSERT INTO' literals",
    ("blocks/warehouse/sql_builders.py", "_of_file", "alias"): "'i' or ''",
    ("blocks/warehouse/sql_builders.py", "orphan_count", "contract"): "a registry TableContract",
    ("blocks/warehouse/sql_builders.py", "orphan_count_of", "contract"): "a registry TableContract",
    ("blocks/warehouse/sql_builders.py", "orphan_count_of", "rows"): "'_incoming', the batch DuckDB registers",
    ("blocks/warehouse/sql_builders.py", "_missing_reference", "contract"): "a registry TableContract",
    ("blocks/warehouse/mysql.py", "_load_data", "table"): "contract.target_table",
    ("blocks/warehouse/mysql.py", "_load_data", "columns"): "contract columns + LINEAGE",
    ("blocks/warehouse/duckdb.py", "_upsert_incoming", "columns"): "contract columns + LINEAGE",
    ("blocks/warehouse/files_load.py", "insert_from_files", "label"): "validated by _check(_TOKEN) first",
    ("blocks/warehouse/starrocks.py", "_write_ledger", "label"): "ledger_label(): 'datawiz_ledger_' + 40 hex digits",
    ("datawiz/starrocks_selftest.py", "create_database_sql", "name"): "scratch_name_checked() first",
    ("datawiz/starrocks_selftest.py", "drop_database_sql", "name"): "scratch_name_checked() first",
    ("datawiz/starrocks_selftest.py", "probe_sql", "name"): "migration_summary(): names in sql/starrocks/migrations",
    ("datawiz/starrocks_selftest.py", "seed", "table"): "keys of seed_rows(): table names of our migrations",
    ("datawiz/starrocks_selftest.py", "seed", "names"): "backquoted column names of seed_rows()'s fixed rows",
    ("datawiz/starrocks_selftest.py", "seed", "marks"): ":name placeholders of the same columns",
    ("blocks/warehouse/files_load.py", "insert_from_files", "clause"): "AzureFiles.files_clause (validated)",
    ("datawiz/starrocks_selftest.py", "files_count_sql", "clause"): "AzureFiles.files_clause (validated)",
    ("blocks/warehouse/files_load.py", "_cast", "column"): "a registry Column",
    ("blocks/warehouse/ddl.py", "create_table", "dialect"): "a backend name (sql_templates.DIALECTS)",
    ("blocks/warehouse/ddl.py", "create_table", "contract"): "a registry TableContract",
    ("blocks/warehouse/ddl.py", "create_table", "history"): "a bool",
    ("blocks/warehouse/sql_templates.py", "drop_temp", "name"): "temporary table names written in sql/*.sql",
    ("blocks/warehouse/sql_templates.py", "temp_table", "name"): "temporary table names written in sql/*.sql",
}
# Values that StarRocks' grammar cannot bind (FILES() properties): inlined only after strict validation.
VALIDATED_INLINE: dict[tuple[str, str, str], str] = {
    ("blocks/warehouse/files_load.py", "files_clause", "props"):
        "FILES() properties: path/account/container/key each pass _check() against a strict pattern",
    ("blocks/warehouse/files_load.py", "_cast", "typ"): "from the _TYPES table or DECIMAL(precision,scale)",
    ("blocks/warehouse/files_load.py", "_cast", "expr"): "s.q(column.name), wrapped in upper/trim",
}


@dataclass(frozen=True)
class Finding:
    """One interpolation the rule does not allow."""

    where: str
    expression: str

    def __str__(self) -> str:
        return f"{self.where}: {self.expression}"


def _literal_text(node: ast.AST) -> str:
    """The constant text of a built string (f-string parts, both sides of % / +, the format receiver)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "{}".join(_literal_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + " " + _literal_text(node.right)
    if isinstance(node, ast.Name):
        return ""
    return ""


class _Scanner(ast.NodeVisitor):
    """Walks one module; collects findings for SQL-shaped built strings."""

    def __init__(self, rel: str, module: ast.Module) -> None:
        self.rel = rel
        self.findings: list[Finding] = []
        self.built = 0
        self.module_constants = {
            t.id
            for node in module.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()
        } | {node.target.id for node in module.body
             if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id.isupper()}
        self.module_text = {
            t.id: _literal_text(node.value)
            for node in module.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)
        }
        self.func: ast.FunctionDef | ast.AsyncFunctionDef | None = None
        self._visiting: set[str] = set()

    # -------------------------------------------------------------------- scopes
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.func = self.func, node
        self.generic_visit(node)
        self.func = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Raise(self, node: ast.Raise) -> None:
        """Exception messages quote SQL words ("LOAD DATA into t: 3 warnings") but never reach a server."""

    # -------------------------------------------------------------------- built strings
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        if SQL_SHAPE.search(_literal_text(node)):
            self.built += 1
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    self._check(part.value)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        text = _literal_text(node)
        if isinstance(node.left, ast.Name):
            text += self.module_text.get(node.left.id, "")
        if isinstance(node.op, ast.Mod | ast.Add) and SQL_SHAPE.search(text):
            self.built += 1
            operands = [node.right] if isinstance(node.op, ast.Mod) else [node.left, node.right]
            for operand in operands:
                for value in (operand.elts if isinstance(operand, ast.Tuple) else [operand]):
                    if not isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp):
                        self._check(value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Add) and SQL_SHAPE.search(_literal_text(node.value)):
            self.built += 1
            if not isinstance(node.value, ast.Constant | ast.JoinedStr):
                self._check(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            receiver = func.value
            text = _literal_text(receiver)
            if isinstance(receiver, ast.Name):
                text = self.module_text.get(receiver.id, "")
            if SQL_SHAPE.search(text):
                self.built += 1
                for value in [*node.args, *(k.value for k in node.keywords)]:
                    self._check(value)
        self.generic_visit(node)

    # -------------------------------------------------------------------- the rule
    def _check(self, expr: ast.AST) -> None:
        if not self._safe(expr, depth=0):
            line = getattr(expr, "lineno", 0)
            where = f"{self.rel}:{line} in {self.func.name if self.func else '<module>'}()"
            self.findings.append(Finding(where, ast.unparse(expr)))

    def _safe(self, expr: ast.AST, depth: int) -> bool:  # noqa: PLR0911, PLR0912  (one case per rule)
        if depth > 12:
            return False
        d = depth + 1
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.JoinedStr):
            return all(self._safe(v.value, d) for v in expr.values if isinstance(v, ast.FormattedValue))
        if isinstance(expr, ast.Attribute):
            return expr.attr in REGISTRY_ATTRS | STYLE_ATTRS or (
                isinstance(expr.value, ast.Name) and expr.attr in REGISTRY_CONSTANTS)
        if isinstance(expr, ast.Subscript):
            return self._safe(expr.value, d)
        if isinstance(expr, ast.IfExp):
            return self._safe(expr.body, d) and self._safe(expr.orelse, d)
        if isinstance(expr, ast.BinOp):
            return self._safe(expr.left, d) and self._safe(expr.right, d)
        if isinstance(expr, ast.Tuple | ast.List):
            return all(self._safe(e, d) for e in expr.elts)
        if isinstance(expr, ast.Starred):
            return self._safe(expr.value, d)
        if isinstance(expr, ast.GeneratorExp | ast.ListComp):
            return self._safe(expr.elt, d) and all(self._safe(g.iter, d) for g in expr.generators)
        if isinstance(expr, ast.Call):
            return self._safe_call(expr, d)
        if isinstance(expr, ast.Name):
            return self._safe_name(expr.id, d)
        return False

    def _safe_call(self, call: ast.Call, d: int) -> bool:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in NUMERIC_CALLS:
            return True
        if isinstance(func, ast.Name) and all(isinstance(a, ast.Constant) for a in call.args) and all(
                isinstance(k.value, ast.Constant) for k in call.keywords):
            return True  # a module function of literals only: a constant fixed in the code, not an input
        if name in ALLOWED_FRAGMENT_FUNCS:
            return all(self._safe(a, d) for a in call.args if not _is_style(a))
        if name == "join" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant):
            return all(self._safe(a, d) for a in call.args)
        if name in ("items", "values", "keys", "get") and isinstance(func, ast.Attribute):
            return self._safe(func.value, d)  # a lookup in a safe mapping (a registry constant)
        return False

    def _safe_name(self, name: str, d: int) -> bool:
        if name in self.module_constants or name in REGISTRY_CONSTANTS:
            return True
        if self.func is None:
            return False
        if name in self._visiting:  # a cycle (x bound from y bound from x): decided by the other bindings
            return True
        key = (self.rel, self.func.name, name)
        if key in IDENTIFIER_PARAMS or key in VALIDATED_INLINE:
            return True
        if name in {a.arg for a in self.func.args.args + self.func.args.kwonlyargs}:
            return _is_style_name(name)
        bindings = list(_bindings(self.func, name))
        self._visiting.add(name)
        try:
            return bool(bindings) and all(b is not None and self._safe(b, d) for b in bindings)
        finally:
            self._visiting.discard(name)


def _is_style(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and _is_style_name(node.id) or (
        isinstance(node, ast.Attribute) and node.attr in ("PYMYSQL", "DUCKDB"))


def _is_style_name(name: str) -> bool:
    # `s`/`style`: a sql_builders.Style (placeholder + quote), the only parameter of that name in the builders.
    return name in ("s", "style")


def _bindings(func: ast.AST, name: str) -> list[ast.AST | None]:
    """Every expression `name` is bound to inside `func` (None when the binding cannot be traced)."""
    out: list[ast.AST | None] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                out.extend(_match_target(target, node.value, name))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            out.extend(_match_target(node.target, node.value, name))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            out.append(node.value)
        elif isinstance(node, ast.For | ast.comprehension) and any(
                isinstance(t, ast.Name) and t.id == name for t in ast.walk(node.target)):
            out.append(node.iter)
    return out


def _match_target(target: ast.AST, value: ast.AST, name: str) -> list[ast.AST | None]:
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if isinstance(target, ast.Tuple):
        if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
            return [v for t, v in zip(target.elts, value.elts, strict=True) for v in _match_target(t, v, name)]
        return [None] if any(isinstance(t, ast.Name) and t.id == name for t in target.elts) else []
    return []


def scan_python(paths: list[Path]) -> tuple[list[Finding], int]:
    """Findings over these files, and how many SQL strings were built in them."""
    findings: list[Finding] = []
    built = 0
    for path in paths:
        rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
        module = ast.parse(path.read_text(), filename=rel)
        scanner = _Scanner(rel, module)
        scanner.visit(module)
        findings += scanner.findings
        built += scanner.built
    return findings, built


def production_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (REPO / d).rglob("*.py"))


_SQL_FORMAT_MARKERS = re.compile(r"\{[^}]*\}|%\(\w+\)s|%s\b|\$\{")
# The one DDL setting StarRocks' grammar cannot take as a parameter (PROPERTIES of CREATE TABLE / MV):
# filled in by StarRocksConnector._statements with an int (`replicas()`), never with text.
_DDL_SETTING = '"replication_num" = "${replication_num}"'


def scan_sql_files() -> list[str]:
    """Lines of sql/ rendered for each backend (comments aside) that carry a formatting marker instead of a
    `:name` parameter."""
    from blocks.warehouse.base import dialect_sql
    from blocks.warehouse.sql_templates import DIALECTS

    bad = []
    for dialect in DIALECTS:
        for name, text in dialect_sql(dialect).items():
            for number, line in enumerate(text.splitlines(), start=1):
                code = line.split("--", 1)[0].replace(_DDL_SETTING, "")
                if _SQL_FORMAT_MARKERS.search(code):
                    bad.append(f"{dialect}:{name}:{number}: {line.strip()}")
    return bad


# ------------------------------------------------------------------------------------------ tests
def test_production_sql_binds_values_and_interpolates_registry_identifiers_only(tally: Tally) -> None:
    findings, built = scan_python(production_files())
    tally.rows(built)
    for f in findings:
        tally.discrepancy(f"SQL built from a non-identifier: {f}")
    assert built >= 25, "the scanner found almost no SQL: its shape regex is broken"
    assert not findings, "values formatted into SQL (bind them, or take identifiers from the registry):\n" + \
        "\n".join(map(str, findings))


def test_sql_files_have_no_formatting_markers(tally: Tally) -> None:
    files = list((REPO / "sql").rglob("*.sql"))
    tally.rows(len(files))
    bad = scan_sql_files()
    assert len(files) > 5
    assert not bad, "\n".join(bad)


def test_allow_lists_name_real_parameters() -> None:
    """Every allow-list entry points at an existing function parameter or local: no stale exemptions."""
    for (rel, func_name, name), why in {**IDENTIFIER_PARAMS, **VALIDATED_INLINE}.items():
        module = ast.parse((REPO / rel).read_text())
        funcs = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef) and n.name == func_name]
        assert funcs, f"{rel}: no function {func_name} ({why})"
        names = {a.arg for f in funcs for a in f.args.args + f.args.kwonlyargs} | {
            n.id for f in funcs for n in ast.walk(f) if isinstance(n, ast.Name)}
        assert name in names, f"{rel}:{func_name} has no {name} ({why})"


@pytest.mark.parametrize("snippet", [
    'def f(cur, user):\n    cur.execute(f"SELECT * FROM t WHERE name = \'{user}\'")\n',
    'def f(cur, run_id):\n    cur.execute("DELETE FROM etl_quarantine WHERE run_id = %s" % run_id)\n',
    'def f(cur, path):\n    cur.execute("SELECT * FROM t WHERE p = \'{}\'".format(path))\n',
    'def f(cur, v):\n    cur.execute("UPDATE t SET a = 1 WHERE b = " + v)\n',
    'def f(cur, rows):\n    x = rows[0]\n    cur.execute(f"INSERT INTO t VALUES ({x})")\n',
    'def f(cur, contract, v):\n    cur.execute(f"DELETE FROM {contract.target_table} WHERE k = \'{v}\'")\n',
    'def f(cur, v):\n    cur.execute(f"SELECT * FROM t WHERE a = \'{str(v)}\'")\n',
])
def test_scanner_catches_formatted_values(tmp_path: Path, snippet: str) -> None:
    """The rule itself: each classic injection shape is reported."""
    path = tmp_path / "probe.py"
    path.write_text(snippet)
    findings, built = scan_python([path])
    assert built == 1 and len(findings) == 1, findings


def test_scanner_accepts_registry_identifiers_and_placeholders(tmp_path: Path) -> None:
    snippet = (
        "def f(cur, contract, s, entry):\n"
        "    cols = ', '.join(s.q(c) for c in contract.column_names)\n"
        "    cur.execute(f'INSERT INTO {contract.target_table} ({cols}) VALUES ({s.marks(3)})', entry)\n"
        "    cur.execute(f'SELECT * FROM t LIMIT {int(entry)}')\n"
    )
    path = tmp_path / "probe_ok.py"
    path.write_text(snippet)
    findings, built = scan_python([path])
    assert built == 2 and findings == []
