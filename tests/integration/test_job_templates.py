"""The container job templates as a Prefect server and a worker take them (deployments/job_templates/).

No Azure subscription here: the Azure Container Instances template is sent to a real Prefect server as a
work pool (which validates it) and turned into a flow run's job configuration the way the ACI worker does
it (`BaseJobConfiguration.from_template_and_values`: variables first, then block references), so the
storage key is shown to come from a Secret block at run time and never to sit in the pool.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect_azure.workers.container_instance import AzureContainerJobConfiguration

from deployments.blocks import save_data_share_key
from deployments.settings import EnvNames

pytestmark = pytest.mark.integration
TEMPLATES = Path(__file__).resolve().parents[2] / "deployments" / "job_templates"


def test_the_aci_share_key_comes_from_a_secret_block_never_from_the_pool(prefect_server: None) -> None:
    key = secrets.token_urlsafe(32)
    saved = save_data_share_key(EnvNames("prod"), {"AZURE_DATA_SHARE_KEY": key})  # `datawiz blocks register`
    assert [s.ref for s in saved] == ["secret/datawiz-prod-data-share-key"] and key not in saved[0].line()
    assert save_data_share_key(EnvNames("prod"), {}) == []  # no share key, no block
    template = json.loads((TEMPLATES / "azure-container-instance.json").read_text())
    pool = f"datawiz-aci-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:  # the server validates the template
        client.create_work_pool(WorkPoolCreate(name=pool, type="azure-container-instance", base_job_template=template))
        stored = client.read_work_pool(pool).base_job_template
    values = {"resource_group_name": "rg-datawiz", "subscription_id": "0000", "data_share_account": "acct"}

    async def as_the_worker_does() -> AzureContainerJobConfiguration:
        async with get_client() as client:
            return await AzureContainerJobConfiguration.from_template_and_values(stored, values, client=client)

    config = asyncio.run(as_the_worker_does())
    with get_client(sync_client=True) as client:
        client.delete_work_pool(pool)
    assert key not in json.dumps(stored)  # the pool holds a reference only
    volume = config.arm_template["resources"][0]["properties"]["volumes"][0]["azureFile"]
    assert volume == {"shareName": "datawiz-data", "storageAccountName": "acct", "storageAccountKey": key}
    assert config.env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] == "/data/prefect-results"  # on the mounted share
    assert Secret.load("datawiz-prod-data-share-key").get() == key
    Secret.delete("datawiz-prod-data-share-key")  # the session's server outlives this test
