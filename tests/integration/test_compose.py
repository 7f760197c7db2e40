"""What docker-compose.yml runs that can run here without Docker: its one-shot bucket
service, against a SeaweedFS of the test's own started like the compose one."""

import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import yaml

from tests.integration import procs
from tests.integration.seaweed import CREDENTIALS, seaweedfs


def test_the_bucket_service_creates_the_bucket_once(tmp_path: Path) -> None:
    compose = yaml.safe_load((procs.REPO / "docker-compose.yml").read_text())
    python, flag, script = compose["services"]["bucket"]["command"]
    assert (python, flag) == ("python", "-c")
    bucket = f"compose-{uuid.uuid4().hex[:12]}"
    with seaweedfs(tmp_path / "seaweedfs") as server:
        env = {**server.client_env, "S3_BUCKET": bucket, "S3_REGION": "us-east-1"}
        for _ in range(2):  # a restart finds the bucket there and leaves it be
            done = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"bucket {bucket} ready"
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["S3_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["S3_SECRET_ACCESS_KEY"],
        )
        assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
