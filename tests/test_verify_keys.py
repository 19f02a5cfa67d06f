"""bodycam.evidence.keys: provisioning device keys into the host keyring, the device's
key.json, and the key files `bodycam verify --key` accepts."""
import json
import os
import stat

import pytest

from bodycam.evidence import keys
from bodycam.resources import shared


def test_provision_stores_a_fresh_key_readable_only_by_the_owner(tmp_path):
    ring = str(tmp_path / "cfg" / "keys.json")
    dev, key = keys.provision(board="ai-thinker-esp32-cam", keyring=ring)
    assert dev.startswith("bc-") and len(key) == 32
    assert stat.S_IMODE(os.stat(ring).st_mode) == 0o600
    with open(ring) as f:
        d = json.load(f)
    entry = d["devices"][dev]
    assert d["format"] == "bodycam-keyring/1" and entry["board"] == "ai-thinker-esp32-cam"
    assert entry["keys"][0]["key"] == key.hex() and entry["keys"][0]["key_id"] == shared("seal").key_id(key)
    assert keys.device_key(dev, ring) == key
    # two devices never share a key
    dev2, key2 = keys.provision(keyring=ring)
    assert dev2 != dev and key2 != key


def test_reprovisioning_keeps_old_keys_so_old_clips_still_verify(tmp_path):
    ring = str(tmp_path / "keys.json")
    _, k1 = keys.provision("bc-cam1", keyring=ring)
    _, k2 = keys.provision("bc-cam1", keyring=ring)
    assert k1 != k2 and keys.device_key("bc-cam1", ring) == k2
    by_id = keys.keys_by_id(keys.load_keyring(ring))
    assert set(by_id.values()) == {k1, k2}


def test_device_key_json_is_what_the_firmware_loads(tmp_path, run_mpy):
    key = bytes(range(32))
    (tmp_path / "key.json").write_bytes(keys.device_key_json("bc-x1", key))
    out = run_mpy("import json, seal\nd, k = seal.load_key('key.json')\nprint(json.dumps([d, seal.hexstr(k)]))\n",
                  cwd=tmp_path)
    assert out == ["bc-x1", key.hex()]
    with pytest.raises(ValueError, match="device id"):
        keys.device_key_json("bad id!", key)
    with pytest.raises(ValueError, match="32 bytes"):
        keys.device_key_json("bc-x1", b"short")


def test_key_files_for_verify(tmp_path, monkeypatch):
    ring = str(tmp_path / "keys.json")
    dev, key = keys.provision(keyring=ring)
    kid = shared("seal").key_id(key)
    assert keys.load_key_file(ring) == {kid: key}
    (tmp_path / "key.json").write_bytes(keys.device_key_json(dev, key))
    assert keys.load_key_file(str(tmp_path / "key.json")) == {kid: key}
    (tmp_path / "k.hex").write_text(key.hex().upper() + "\n")
    assert keys.load_key_file(str(tmp_path / "k.hex")) == {kid: key}
    for bad in ("nothing", '{"key": "zz"}', '{"format": "other"}'):
        (tmp_path / "bad").write_text(bad)
        with pytest.raises(ValueError):
            keys.load_key_file(str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="does not exist"):
        keys.load_key_file(str(tmp_path / "none"))
    monkeypatch.setenv("BODYCAM_KEYRING", ring)
    assert keys.keyring_path() == ring and keys.default_keys() == {kid: key}
    monkeypatch.delenv("BODYCAM_KEYRING")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert keys.keyring_path() == str(tmp_path / "xdg" / "bodycam" / "keys.json")
    assert keys.default_keys() == {}  # no keyring yet: no keys, no error


def test_a_damaged_keyring_is_refused_not_overwritten(tmp_path):
    ring = tmp_path / "keys.json"
    ring.write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        keys.provision(keyring=str(ring))
    assert ring.read_text() == "{broken"
