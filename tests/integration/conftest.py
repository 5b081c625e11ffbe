"""Integration fixtures shared by every test in this folder."""

from tests.integration.azurite import azurite  # noqa: F401
from tests.integration.mariadb import admin_connection, mariadb, mysql_url  # noqa: F401
