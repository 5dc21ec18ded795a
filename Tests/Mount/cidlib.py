"""The identities of docs/REFERENCE.md §1, computed independently of the daemon:
RFC 8785 canonical JSON (for the JSON the tests use) and CIDv1 in base32."""
import base64
import hashlib
import json

RAW, JSON_CODEC = 0x55, 0x0200


def _number(value):
    """ECMAScript Number.prototype.toString, as RFC 8785 section 3.2.2.3 asks.

    Python's repr gives the shortest digits that round-trip (the same digits
    ECMAScript picks); only the layout differs (1e-07, 100.0, 1e+16, -0.0)."""
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if isinstance(value, int) and abs(value) <= 2 ** 53:
        return str(value)
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("JCS has no NaN or infinities")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value)
    digits, exponent = _shortest(value)
    k, n = len(digits), exponent + len(digits)  # value = 0.DIGITS x 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return mantissa + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def _shortest(value):
    """(digits without trailing zeros, exponent) with value = int(digits) x 10^exponent."""
    text = repr(value)
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    return stripped, exponent + (len(digits) - len(stripped))


class _Raw(str):
    """Output text already in canonical form (punctuation, member names)."""


def jcs(value):
    """RFC 8785 text of a value (keys sorted by UTF-16 code units). Iterative,
    so deeply nested documents need no deep Python recursion."""
    out = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif item is None or isinstance(item, bool):
            out.append(json.dumps(item))
        elif isinstance(item, (int, float)):
            out.append(_number(item))
        elif isinstance(item, str):
            out.append(json.dumps(item, ensure_ascii=False))
        elif isinstance(item, (list, tuple)):
            parts = [_Raw("[")]
            for index, element in enumerate(item):
                parts += [_Raw(",")] if index else []
                parts.append(element)
            parts.append(_Raw("]"))
            stack.extend(reversed(parts))
        elif isinstance(item, dict):
            parts = [_Raw("{")]
            for index, key in enumerate(sorted(item, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
                parts.append(_Raw(("," if index else "") + json.dumps(key, ensure_ascii=False) + ":"))
                parts.append(item[key])
            parts.append(_Raw("}"))
            stack.extend(reversed(parts))
        else:
            raise TypeError(type(item))
    return "".join(out)


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
