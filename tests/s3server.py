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


class ShortenedRetention(AssertionError):
    """A PutObjectRetention that AWS would refuse (a date before the one the
    version has, or COMPLIANCE mode given up); moto accepts it."""


class RetentionGuard:
    """Checks every PutObjectRetention at the request itself, before it is
    sent: moto 5.2 lets a COMPLIANCE date be shortened, AWS refuses it, so
    only the request shows that the code asked. Attach it to a client; it
    keeps every request (`requests`) and raises ShortenedRetention on one
    that shortens."""

    def __init__(self):
        self.requests = []
        self.refused = []
        self._reader = None

    def attach(self, client):
        client.meta.events.register("before-parameter-build.s3.PutObjectRetention", self._check)
        return client

    def _check(self, params, **kw):
        import datetime

        import boto3
        if self._reader is None:
            self._reader = boto3.client("s3")  # its own client: no guard on it
        where = {"Bucket": params["Bucket"], "Key": params["Key"]}
        if params.get("VersionId"):
            where["VersionId"] = params["VersionId"]
        h = self._reader.head_object(**where)
        want = params.get("Retention") or {}
        until = want.get("RetainUntilDate")
        if isinstance(until, str):
            until = datetime.datetime.fromisoformat(until.replace("Z", "+00:00"))
        req = dict(where, mode=want.get("Mode"), until=until, mode_was=h.get("ObjectLockMode"),
                   until_was=h.get("ObjectLockRetainUntilDate"))
        self.requests.append(req)
        shorter = req["until_was"] is not None and (until is None or until < req["until_was"])
        if shorter or (req["mode_was"] == "COMPLIANCE" and req["mode"] != "COMPLIANCE"):
            self.refused.append(req)
            raise ShortenedRetention("PutObjectRetention would shorten the retention of %s: %s" % (params["Key"], req))


@pytest.fixture
def retention_guard(monkeypatch):
    """A RetentionGuard on every store client the code under test makes
    (bodycam.evidence.store.client_from_env)."""
    from bodycam.evidence import store
    guard = RetentionGuard()
    make = store.client_from_env
    monkeypatch.setattr(store, "client_from_env", lambda: guard.attach(make()))
    return guard
