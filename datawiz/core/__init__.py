"""The bottom layer: the contract model and registry, the error tree, secret scrubbing, environment names.

Imports nothing from blocks/, tasks/, flows/ or deployments/ (`make lint` checks the layers)."""
