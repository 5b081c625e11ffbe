"""DataWiz: command line and sample-data tooling around the Prefect flows."""
