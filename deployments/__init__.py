"""What deploying needs besides prefect.yaml: environment names, blocks, automations, job templates."""
