"""`bodycam verify` on a clip that carries no signature, from a device the
keyring does not know: it is not passed as verified, and the reason is
said (the device's own fixtures from tests/test_verify.py)."""
import json

from bodycam.evidence import keys
from test_verify import device, folder, line_of, run_verify  # noqa: F401 (fixtures)


def test_an_unsigned_clip_of_a_device_the_keyring_does_not_know_is_unverified(folder, capsys, tmp_path):  # noqa: F811
    js = folder / "BC000004.JSON"
    meta = json.loads(js.read_bytes())
    meta["manifest_hmac"] = None
    meta["key_id"] = None
    js.write_bytes(json.dumps(meta, ensure_ascii=False).encode())
    other = str(tmp_path / "other.json")
    keys.provision(keyring=other)
    code, out = run_verify(capsys, folder, "--key", other)
    assert code == 1
    assert "not signed (the device had no key when it recorded this)" in line_of(out, "BC000004")
    assert "UNSIGNED" in line_of(out, "BC000004") and "UNSIGNED" not in line_of(out, "BC000003")
