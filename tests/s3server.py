"""A real S3 API server for the evidence store tests: moto's server mode
(ThreadedMotoServer, moto[server]) on 127.0.0.1 at a free port, reached
through boto3 with the usual AWS environment variables, as the station
reaches AWS, MinIO or Ceph."""
import socket
import uuid

import pytest

moto_server = pytest.importorskip("moto.server")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(port=None):
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port or free_port(), verbose=False)
    srv.start()
    return srv


def aws_env(monkeypatch, endpoint):
    for v in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    for k, v in aws_env_dict(endpoint).items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    srv = start_server(port)
    yield "http://127.0.0.1:%d" % port
    srv.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3
    aws_env(monkeypatch, s3_endpoint)
    return boto3.client("s3")


def new_bucket(s3, lock=True, versioning=True):
    name = "evidence-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    if versioning and not lock:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def aws_env_dict(endpoint):
    """The environment aws_env() sets, as a dict (for scripts like bench/station.py)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
