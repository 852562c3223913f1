"""Every driver on a fresh bucket; the servers behind them come from tests/stores.py."""

from __future__ import annotations

import pytest

from mlplatform.storage.drivers.base import StorageDriver
from mlplatform.storage.drivers.gcs import GcsDriver
from mlplatform.storage.drivers.local import LocalDriver
from mlplatform.storage.drivers.s3 import S3Driver
from tests.stores import S3_KEY_ID, S3_SECRET, unique_bucket


@pytest.fixture(params=["s3", "gcs", "local"])
def driver_and_bucket(request, tmp_path) -> tuple[StorageDriver, str]:
    """(driver, name of a new empty bucket it reaches), for each kind of store."""
    bucket = unique_bucket()
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        request.getfixturevalue("s3_bucket_factory")(bucket)
        driver = S3Driver(
            endpoint_url=endpoint, region="us-east-1", access_key_id=S3_KEY_ID, secret_access_key=S3_SECRET
        )
    elif request.param == "gcs":
        endpoint = request.getfixturevalue("gcs_endpoint")
        request.getfixturevalue("gcs_bucket_factory")(bucket)
        driver = GcsDriver(endpoint_url=endpoint, service_account_info=None)
    else:
        driver = LocalDriver(root=tmp_path / "buckets")
        driver.create_bucket(bucket)
    return driver, bucket
