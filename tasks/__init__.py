"""The pipeline's tasks and the helpers the flows share.

Importing this package configures the process's telemetry and JSON log files, once (see
`datawiz/observability.py`): every process that runs a flow imports it — `python flows/<name>.py`, the
`datawiz` CLI, and a worker's `python -m prefect.engine`, which imports the deployment's flow module.
"""

from datawiz.observability import setup as _setup_observability

_setup_observability()
