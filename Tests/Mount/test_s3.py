"""The s3 family through a real mount against moto's server (PyPI
`moto[server]`), started here on 127.0.0.1. With its IAM authentication on,
moto checks every SigV4 signature and the user's policy. Two limits of moto
5.2 with authentication on shape the tests: it recomputes signatures over a
query string it has already decoded (so a `/` in a prefix or delimiter, sent
as `%2F` as SigV4 wants, fails even for boto3 itself), and it cannot check
presigned URLs at all (HTTP 500). Those cases run against a second moto
without authentication, and presigned signatures are recomputed here."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

boto3 = pytest.importorskip("boto3", reason="needs boto3 (pip install 'moto[server]')")
pytest.importorskip("moto.server", reason="needs moto's server (pip install 'moto[server]')")
from botocore.config import Config  # noqa: E402

BUCKET = "cidcache-test-bucket"
REGION = "us-east-1"
# Actions moto lets through before it checks signatures: the IAM setup below.
SETUP_ACTIONS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, auth=True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "INITIAL_NO_AUTH_ACTION_COUNT"}
        env["MOTO_PORT"] = str(self.port)
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_ACTIONS)
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"moto-{self.port}.log"), "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("moto's server exited")
                time.sleep(0.1)
        raise RuntimeError("moto's server did not come up")

    def client(self, service, key=None, secret=None):
        # Plain signed payloads: moto checks those (newer botocore defaults to streamed checksums).
        config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required")
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, config=config,
                            aws_access_key_id=key or "test-setup-key-id", aws_secret_access_key=secret or "setup")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def fill(s3):
    s3.create_bucket(Bucket=BUCKET)
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"data/file-{i}.txt", Body=f"content {i}".encode())
    s3.put_object(Bucket=BUCKET, Key="docs/read me.md", Body=b"# hello", ContentType="text/markdown",
                  Metadata={"owner": "team-a", "purpose": "test"})
    s3.put_object(Bucket=BUCKET, Key="top.txt", Body=b"top")


@pytest.fixture(scope="module")
def moto():
    """moto with IAM authentication on: one user, two access keys, s3:* allowed."""
    server = Moto()
    try:
        iam = server.client("iam")
        iam.create_user(UserName="cidcache")
        iam.put_user_policy(UserName="cidcache", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        server.keys = [iam.create_access_key(UserName="cidcache")["AccessKey"] for _ in range(2)]
        # From here on moto checks every signature.
        fill(server.client("s3", server.keys[0]["AccessKeyId"], server.keys[0]["SecretAccessKey"]))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def open_moto():
    """moto without authentication, for what the authenticated one cannot check."""
    server = Moto(auth=False)
    try:
        server.keys = [{"AccessKeyId": "test-open-key-id-0001", "SecretAccessKey": "open/secret+key0001"}]
        fill(server.client("s3"))
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_mount(make_mount, moto):
    def make(key=0, secret=None, server=None, config=None, **env):
        server = server or moto
        m = make_mount(**(config or {}))
        for name in list(m.env):
            if name.startswith("AWS_") or name.startswith("CIDCACHE_S3_"):
                del m.env[name]
        pair = server.keys[key]
        m.env.update({"AWS_ENDPOINT_URL_S3": server.url, "AWS_REGION": REGION,
                      "AWS_ACCESS_KEY_ID": pair["AccessKeyId"],
                      "AWS_SECRET_ACCESS_KEY": secret or pair["SecretAccessKey"]})
        m.env.update(env)
        return m.start()
    return make


def presigned_signature(url, secret):
    """SigV4 recomputed here from a presigned URL (query-string form, host signed)."""
    parts = urllib.parse.urlsplit(url)
    pairs = [p.split("=", 1) for p in parts.query.split("&")]
    params = {k: urllib.parse.unquote(v) for k, v in pairs}
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"])
    date = params["X-Amz-Date"]
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return params["X-Amz-Signature"], hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def test_list_objects_joins_every_page(s3_mount):
    m = s3_mount()
    answer = json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "prefix": "data", "max_keys": 2}))
    assert [c["key"] for c in answer["contents"]] == [f"data/file-{i}.txt" for i in range(5)]
    assert answer["bucket"] == BUCKET and answer["prefix"] == "data"
    assert answer["is_truncated"] is False and answer["next_continuation_token"] is None
    first = answer["contents"][0]
    assert set(first) == {"key", "size", "etag", "last_modified", "storage_class"}
    assert first["size"] == len(b"content 0") and first["storage_class"] == "STANDARD"
    assert json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "prefix": "data", "max_keys": 2})) == answer
    assert outcomes(m) == ["miss", "hit"]
    entries = [n for n in os.listdir(m.p("api", "s3", "list_objects")) if n != "query"]
    assert os.getxattr(m.p("api", "s3", "list_objects", entries[0]), "user.cidcache.ttl") == b"300"


def test_list_objects_one_page(s3_mount):
    m = s3_mount()
    page = json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "prefix": "data", "max_keys": 2, "pages": 1}))
    assert [c["key"] for c in page["contents"]] == ["data/file-0.txt", "data/file-1.txt"]
    assert page["is_truncated"] is True and page["next_continuation_token"]
    rest = json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "prefix": "data", "max_keys": 2,
                                                     "continuation_token": page["next_continuation_token"]}))
    assert [c["key"] for c in rest["contents"]] == [f"data/file-{i}.txt" for i in range(2, 5)]
    assert rest["is_truncated"] is False


def test_list_objects_delimiter(s3_mount, open_moto):
    m = s3_mount(server=open_moto)
    top = json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "delimiter": "/"}))
    assert top["common_prefixes"] == ["data/", "docs/"]
    assert [c["key"] for c in top["contents"]] == ["top.txt"]
    docs = json.loads(m.query("s3", "list_objects", {"bucket": BUCKET, "prefix": "docs/", "delimiter": "/"}))
    assert [c["key"] for c in docs["contents"]] == ["docs/read me.md"]
    assert docs["prefix"] == "docs/" and docs["common_prefixes"] == []


def test_head_object(s3_mount):
    m = s3_mount()
    meta = json.loads(m.query("s3", "head_object", {"bucket": BUCKET, "key": "docs/read me.md"}))
    assert meta["content_length"] == len(b"# hello")
    assert meta["content_type"] == "text/markdown"
    assert meta["metadata"] == {"owner": "team-a", "purpose": "test"}
    assert meta["etag"].strip('"') and meta["last_modified"]
    entries = [n for n in os.listdir(m.p("api", "s3", "head_object")) if n != "query"]
    assert os.getxattr(m.p("api", "s3", "head_object", entries[0]), "user.cidcache.ttl") == b"600"


def test_presign_is_local_and_fetchable(s3_mount, open_moto):
    m = s3_mount(server=open_moto)
    answer = json.loads(m.query("s3", "presign", {"bucket": BUCKET, "key": "docs/read me.md", "expires_in": 900}))
    assert answer["method"] == "GET" and answer["expires_in"] == 900
    url = answer["url"]
    assert url.startswith(f"{open_moto.url}/{BUCKET}/docs/read%20me.md?X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert "X-Amz-Credential=test-open-key-id-0001%2F" in url and "X-Amz-Expires=900" in url
    provided, expected = presigned_signature(url, open_moto.keys[0]["SecretAccessKey"])
    assert provided == expected
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"# hello"
    # Computed locally: moto saw no call for it.
    assert m.stats("s3.json")["misses"] == 1 and m.stats("s3.json")["upstream_errors"] == 0
    entries = [n for n in os.listdir(m.p("api", "s3", "presign")) if n != "query"]
    assert os.getxattr(m.p("api", "s3", "presign", entries[0]), "user.cidcache.ttl") == b"840"
    assert m.query("s3", "presign", {"bucket": BUCKET, "key": "docs/read me.md", "expires_in": 900}) == m.read(
        "api", "s3", "presign", entries[0])
    assert m.query_errno("s3", "presign", {"bucket": BUCKET, "key": "k", "expires_in": 60}) == "EINVAL"
    default = json.loads(m.query("s3", "presign", {"bucket": BUCKET, "key": "top.txt"}))
    assert "X-Amz-Expires=3600" in default["url"]
    entries = [n for n in os.listdir(m.p("api", "s3", "presign")) if n != "query"]
    assert sorted(os.getxattr(m.p("api", "s3", "presign", e), "user.cidcache.ttl") for e in entries) == [b"3540", b"840"]


def test_presign_takes_no_place_in_the_upstream_limits(s3_mount, moto):
    """A presigned URL is computed here: a namespace allowed one call a minute
    still answers every presign at once, and the call it allows stays free."""
    m = s3_mount(config={"limits": {"s3": {"concurrent": 1, "per_minute": 1}}})
    started = time.monotonic()
    urls = {json.loads(m.query("s3", "presign", {"bucket": BUCKET, "key": f"k{i}"}))["url"] for i in range(4)}
    assert len(urls) == 4 and time.monotonic() - started < 3
    assert json.loads(m.query("s3", "head_object", {"bucket": BUCKET, "key": "top.txt"}))["key"] == "top.txt"


def test_presign_with_the_authenticated_key(s3_mount, moto):
    m = s3_mount()
    url = json.loads(m.query("s3", "presign", {"bucket": BUCKET, "key": "top.txt"}))["url"]
    provided, expected = presigned_signature(url, moto.keys[0]["SecretAccessKey"])
    assert provided == expected
    assert moto.keys[0]["AccessKeyId"] in url


def test_a_presign_made_with_a_wrong_secret_is_not_served_once_it_is_fixed(s3_mount, moto):
    """Scoped by the whole credential: the 403-ing URL made with a wrong secret
    is a different entry from the one made once the secret is fixed. A presign
    hit saves no call: it counts in hits, not in api_calls_saved."""
    request = {"bucket": BUCKET, "key": "top.txt"}
    m = s3_mount(secret="test-wrong-secret-not-a-real-key")
    wrong = json.loads(m.query("s3", "presign", request))["url"]
    assert json.loads(m.query("s3", "presign", request))["url"] == wrong
    stats = m.stats("s3.json")
    assert stats["hits"] == 1 and stats["api_calls_saved"] == 0 and stats["latency_saved_ms"] == 0
    m.stop()
    m.env["AWS_SECRET_ACCESS_KEY"] = moto.keys[0]["SecretAccessKey"]
    m.start()
    fixed = json.loads(m.query("s3", "presign", request))["url"]
    provided, expected = presigned_signature(fixed, moto.keys[0]["SecretAccessKey"])
    assert provided == expected and fixed != wrong
    assert outcomes(m) == ["miss"]


def test_missing_bucket_and_key(s3_mount):
    m = s3_mount()
    assert m.query_errno("s3", "list_objects", {"bucket": "no-such-bucket-here"}) == "ENOENT"
    line = m.json_lines("errors")[-1]
    assert line["status"] == 404 and "NoSuchBucket" in line["message"]
    assert m.query_errno("s3", "head_object", {"bucket": BUCKET, "key": "absent.txt"}) == "ENOENT"
    assert m.query_errno("s3", "head_object", {"bucket": "no-such-bucket-here", "key": "x"}) == "ENOENT"
    assert m.query_errno("s3", "list_objects", {"prefix": "x"}) == "EINVAL"
    assert m.stats("s3.json")["entries"] == 0


def test_wrong_secret_is_eacces(s3_mount, moto):
    m = s3_mount(secret="test-wrong-secret-not-a-real-key")
    assert m.query_errno("s3", "list_objects", {"bucket": BUCKET}) == "EACCES"
    line = m.json_lines("errors")[-1]
    assert line["status"] == 403 and "SignatureDoesNotMatch" in line["message"]
    assert moto.keys[0]["AccessKeyId"] not in json.dumps(m.json_lines("errors"))
    assert m.query_errno("s3", "head_object", {"bucket": BUCKET, "key": "top.txt"}) == "EACCES"
    m.stop()
    # An unknown key id too.
    m.env["AWS_ACCESS_KEY_ID"] = "test-unknown-key-id"
    m.start()
    assert m.query_errno("s3", "list_objects", {"bucket": BUCKET}) == "EACCES"


def test_access_keys_get_separate_entries(s3_mount, moto):
    request = {"bucket": BUCKET, "prefix": "docs"}
    m = s3_mount(key=0)
    first = m.query("s3", "list_objects", request)
    m.stop()
    m.env["AWS_ACCESS_KEY_ID"] = moto.keys[1]["AccessKeyId"]
    m.env["AWS_SECRET_ACCESS_KEY"] = moto.keys[1]["SecretAccessKey"]
    m.start()
    assert [n for n in os.listdir(m.p("api", "s3", "list_objects")) if n != "query"] == []
    assert m.query("s3", "list_objects", request) == first
    assert outcomes(m) == ["miss"]
    assert m.stats("s3.json")["entries"] == 2
    m.stop()
    m.env["AWS_ACCESS_KEY_ID"] = moto.keys[0]["AccessKeyId"]
    m.env["AWS_SECRET_ACCESS_KEY"] = moto.keys[0]["SecretAccessKey"]
    m.start()
    assert m.query("s3", "list_objects", request) == first
    assert outcomes(m) == ["hit"]


def test_secret_never_reaches_the_data_dir(s3_mount, moto):
    m = s3_mount()
    m.query("s3", "list_objects", {"bucket": BUCKET})
    m.query("s3", "head_object", {"bucket": BUCKET, "key": "top.txt"})
    m.query("s3", "presign", {"bucket": BUCKET, "key": "top.txt"})
    m.query_errno("s3", "head_object", {"bucket": BUCKET, "key": "absent"})
    m.stop()
    secret = moto.keys[0]["SecretAccessKey"].encode()
    checked = 0
    for root, _, files in os.walk(m.data):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert secret not in f.read(), name
            checked += 1
    assert checked > 0
    assert secret not in m.daemon_output().encode()
