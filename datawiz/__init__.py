"""DataWiz: command line and sample-data tooling around the Prefect flows."""

# How long a local run (`python flows/x.py`, `datawiz ...`) waits for its temporary Prefect server to answer,
# unless PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS says otherwise. Prefect's default, 20 s, is shorter
# than the first start on a busy 2-core machine (the server creates and migrates its SQLite database).
LOCAL_SERVER_STARTUP_SECONDS = 300
