"""StarRocks session variables the stand-in answers: defaults, SET and SELECT @@name.

docs/en/sql-reference/System_variable.md (3.3): every variable below with its documented default;
SET [SESSION|GLOBAL] name = value changes it for the session (GLOBAL is kept per session too: a stand-in
has one client at a time), and SELECT @@name reads it back. A name StarRocks does not know is answered
ERR_UNKNOWN_SYSTEM_VARIABLE (errors.unknown_variable).
"""

from __future__ import annotations

from typing import Any

from tests.integration.starrocks_standin.errors import unknown_variable

DEFAULTS: dict[str, Any] = {
    # docs/en/administration/management/timezone.md: "The default value of time_zone is Asia/Shanghai".
    "time_zone": "Asia/Shanghai",
    "system_time_zone": "Asia/Shanghai",
    # docs/en/sql-reference/System_variable.md: enable_insert_strict default true; insert_max_filter_ratio 0;
    # query_timeout 300 (seconds); insert_timeout 14400.
    "enable_insert_strict": True,
    "insert_max_filter_ratio": 0,
    "query_timeout": 300,
    "insert_timeout": 14400,
    "query_mem_limit": 0,
    "exec_mem_limit": 2147483648,
    "pipeline_dop": 0,
    "parallel_fragment_exec_instance_num": 1,
    "sql_mode": "ONLY_FULL_GROUP_BY",
    "sql_select_limit": 9223372036854775807,
    "autocommit": True,
    "tx_isolation": "REPEATABLE-READ",
    "transaction_isolation": "REPEATABLE-READ",
    "transaction_read_only": False,
    "tx_read_only": False,
    "character_set_client": "utf8",
    "character_set_connection": "utf8",
    "character_set_results": "utf8",
    "character_set_server": "utf8",
    "collation_connection": "utf8_general_ci",
    "collation_database": "utf8_general_ci",
    "collation_server": "utf8_general_ci",
    "max_allowed_packet": 33554432,
    "net_buffer_length": 16384,
    "net_read_timeout": 60,
    "net_write_timeout": 60,
    "wait_timeout": 28800,
    "interactive_timeout": 3600,
    "lower_case_table_names": 0,
    "language": "/starrocks/share/english/",
    "license": "Apache License 2.0",
    "init_connect": "",
    "auto_increment_increment": 1,
    "query_cache_type": 0,
    "query_cache_size": 1048576,
    "performance_schema": False,
    "enable_profile": False,
    "new_planner_optimize_timeout": 3000,
    "cbo_max_reorder_node_use_exhaustive": 4,
    "enable_spill": False,
    "load_mem_limit": 0,
    "forward_to_master": False,
    "resource_group": "",
    "activate_all_roles_on_login": False,
    "default_table_compression": "lz4_frame",
    "event_scheduler": "OFF",
}


def read_variable(values: dict[str, Any], name: str, version: str) -> Any:
    """The session value of `name` (session scope / global / plain spelling all read the same value)."""
    key = name.lower().split(".")[-1]
    if key == "version":  # Config.mysql_server_version (see translate.MYSQL_SERVER_VERSION)
        from tests.integration.starrocks_standin.translate import MYSQL_SERVER_VERSION

        return MYSQL_SERVER_VERSION
    if key == "version_comment":  # docs .../utility-functions/current_version.md: "StarRocks version 2.1.2"
        return f"StarRocks version {version}"
    if key in values:
        return values[key]
    if key in DEFAULTS:
        return DEFAULTS[key]
    raise unknown_variable(key)


def parse_value(name: str, value: Any) -> Any:
    """A SET value in the variable's type (booleans accept true/false/on/off/1/0)."""
    default = DEFAULTS.get(name)
    if isinstance(default, bool):
        return str(value).strip("'\"").lower() in ("1", "true", "on")
    if isinstance(default, int):
        try:
            return int(float(str(value).strip("'\"")))
        except ValueError:
            return value
    return value
