"""SHOW statements the FE answers from its own metadata (not from the backing MariaDB)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from typing import TYPE_CHECKING

from mysql_mimic.results import AllowedResult

from tests.integration.starrocks_standin.sentinel import NOT_SPECIAL
from tests.integration.starrocks_standin.translate import current_version
from tests.integration.starrocks_standin.variables import DEFAULTS, read_variable

if TYPE_CHECKING:
    from tests.integration.starrocks_standin.session import StandinSession

_I = re.I | re.S
# docs/en/sql-reference/sql-statements/cluster-management/nodes_processes/SHOW_BACKENDS.md (3.3 "Return").
BACKEND_COLUMNS = [
    "BackendId", "IP", "HeartbeatPort", "BePort", "HttpPort", "BrpcPort", "LastStartTime", "LastHeartbeat", "Alive",
    "SystemDecommissioned", "ClusterDecommissioned", "TabletNum", "DataUsedCapacity", "AvailCapacity",
    "TotalCapacity", "UsedPct", "MaxDiskUsedPct", "ErrMsg", "Version", "Status", "DataTotalCapacity",
    "DataUsedPct", "CpuCores", "NumRunningQueries", "MemUsedPct", "CpuUsedPct", "DataCacheMetrics", "Location",
]


def answer(session: StandinSession, text: str) -> AllowedResult | object:
    """SHOW BACKENDS / GRANTS / DATABASES / TABLES / VARIABLES."""
    if re.match(r"^SHOW\s+BACKENDS$", text, _I):
        return backends(session)
    m = re.match(r"^SHOW\s+GRANTS(?:\s+FOR\s+(ROLE\s+)?(.+))?$", text, _I)
    if m:
        return grants(session, bool(m.group(1)), (m.group(2) or "").strip())
    if re.match(r"^SHOW\s+(DATABASES|SCHEMAS)$", text, _I):
        return databases(session)
    m = re.match(r"^SHOW\s+(FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+([`\w]+))?(?:\s+LIKE\s+'([^']*)')?$", text, _I)
    if m:
        return tables(session, bool(m.group(1)), (m.group(2) or "").strip("`") or None, m.group(3))
    m = re.match(r"^SHOW\s+(?:SESSION\s+|GLOBAL\s+)?VARIABLES(?:\s+LIKE\s+'([^']*)')?$", text, _I)
    if m:
        return variables(session, m.group(1))
    return NOT_SPECIAL


def backends(session: StandinSession) -> AllowedResult:
    """One row per configured backend, all alive."""
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    status = json.dumps({"lastSuccessReportTabletsTime": now, "lastStreamLoadTime": -1, "isQueryDisabled": False,
                         "isLoadDisabled": False})
    rows = []
    for i in range(session.standin.backends):
        rows.append([
            str(10001 + i), f"127.0.0.{i + 1}", "9050", "9060", "8040", "8060", now, now, "true", "false", "false",
            "0", "0.000 B", "1.000 TB", "1.000 TB", "0.00 %", "0.00 %", "", current_version(session.standin.version),
            status, "1.000 TB", "0.00 %", "8", "0", "0.00 %", "0.0 %", "N/A", "",
        ])
    return rows, BACKEND_COLUMNS


def grants(session: StandinSession, role: bool, who: str) -> AllowedResult:
    """SHOW GRANTS [FOR ROLE r | FOR user] in the 3.x format (docs/en/sql-reference/sql-statements/
    account-management/SHOW_GRANTS.md): UserIdentity (RoleName), Catalog, Grants; Catalog is NULL for a role
    assignment ("GRANT 'r' TO ...") and default_catalog for a privilege."""
    session.standin.check_refused("show_grants")
    if role:
        name = who.strip("'\"`")
        lines = session.standin.grants.get(f"role:{name}", [])
        return [[name, _catalog(g), g] for g in lines], ["RoleName", "Catalog", "Grants"]
    identity = f"'{session.standin.user}'@'%'"
    lines = session.standin.grants.get("user", [])
    return [[identity, _catalog(g), g] for g in lines], ["UserIdentity", "Catalog", "Grants"]


def _catalog(line: str) -> str | None:
    return None if re.match(r"^GRANT\s+'", line, re.I) else "default_catalog"


def databases(session: StandinSession) -> AllowedResult:
    """The internal catalog's databases: the backing one, the scratch ones, and the system ones."""
    names = {"_statistics_", "information_schema", "sys", session.standin.database, *session.standin.created_databases}
    return [[n] for n in sorted(names)], ["Database"]


def tables(session: StandinSession, full: bool, db: str | None, like: str | None) -> AllowedResult:
    db = db or session.database or ""
    with session.cursor() as cur:
        cur.execute("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "ORDER BY TABLE_NAME", (db,))
        found = [(n, "VIEW" if t == "VIEW" else "BASE TABLE") for n, t in cur.fetchall()]
    if like:
        found = [f for f in found if fnmatch.fnmatch(f[0], like.replace("%", "*").replace("_", "?"))]
    column = f"Tables_in_{db}"
    if full:
        return [list(f) for f in found], [column, "Table_type"]
    return [[f[0]] for f in found], [column]


def variables(session: StandinSession, like: str | None) -> AllowedResult:
    names = sorted(set(DEFAULTS) | set(session.vars) | {"version", "version_comment"})
    if like:
        names = [n for n in names if fnmatch.fnmatch(n, like.replace("%", "*").replace("_", "?"))]
    rows = [[n, str(read_variable(session.vars, n, session.standin.version))] for n in names]
    return rows, ["Variable_name", "Value"]
