"""cidcache keygen: a new signing key file, mode 0600, never overwritten, and its public key line."""
import base64
import os
import re
import stat
import subprocess

from conftest import BINARY

PUBLIC_LINE = re.compile(r"ed25519:[A-Za-z0-9+/]{43}=")


def keygen(path, umask=None):
    def set_umask():
        os.umask(umask)
    return subprocess.run([BINARY, "keygen", str(path)], capture_output=True, timeout=30,
                          preexec_fn=set_umask if umask is not None else None)


def test_writes_a_private_key_0600_and_prints_the_public_line(tmp_path):
    path = tmp_path / "team.key"
    result = keygen(path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1 and PUBLIC_LINE.fullmatch(lines[0]), result.stdout
    assert len(base64.b64decode(lines[0][len("ed25519:"):], validate=True)) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    content = path.read_text()
    assert re.fullmatch(r"ed25519-private:[A-Za-z0-9+/]{43}=\n", content), "one line, the seed in base64"
    seed = content.strip().split(":", 1)[1]
    assert seed not in result.stdout.decode() + result.stderr.decode(), "the private key is never printed"


def test_each_key_is_new(tmp_path):
    first, second = keygen(tmp_path / "a.key"), keygen(tmp_path / "b.key")
    assert first.stdout != second.stdout
    assert (tmp_path / "a.key").read_text() != (tmp_path / "b.key").read_text()


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "team.key"
    assert keygen(path).returncode == 0
    before = path.read_bytes()
    result = keygen(path)
    assert result.returncode != 0 and result.stdout == b""
    assert b"already exists" in result.stderr
    assert path.read_bytes() == before
    other = tmp_path / "other"
    other.write_text("not a key")
    assert keygen(other).returncode != 0 and other.read_text() == "not a key"


def test_refuses_a_symlink_even_to_a_missing_file(tmp_path):
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "target.key")
    result = keygen(link)
    assert result.returncode != 0
    assert not (tmp_path / "target.key").exists()


def test_never_world_or_group_readable_whatever_the_umask(tmp_path):
    for index, umask in enumerate([0o000, 0o002, 0o022, 0o077, 0o277]):
        path = tmp_path / f"k{index}.key"
        result = keygen(path, umask=umask)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, oct(umask)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    result = keygen(tmp_path / "missing" / "team.key")
    assert result.returncode != 0 and b"cannot create" in result.stderr
