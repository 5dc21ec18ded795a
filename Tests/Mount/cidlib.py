"""The identities of SPEC section 1, computed independently of the daemon:
RFC 8785 canonical JSON (for the JSON the tests use) and CIDv1 in base32."""
import base64
import hashlib
import json

RAW, JSON_CODEC = 0x55, 0x0200


def _number(value):
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return json.dumps(value)


def jcs(value):
    """RFC 8785 bytes of a value (keys sorted by UTF-16 code units)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    raise TypeError(type(value))


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def cid(data, codec=RAW):
    digest = hashlib.sha256(data).digest()
    raw = _varint(1) + _varint(codec) + b"\x12\x20" + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def key_document(namespace, op, request):
    return jcs({"namespace": namespace, "op": op, "request": request}).encode()


def request_cid(namespace, op, request, dropped=("user", "metadata", "store", "cidcache")):
    kept = {k: v for k, v in request.items() if k not in dropped}
    return cid(key_document(namespace, op, kept), JSON_CODEC)
