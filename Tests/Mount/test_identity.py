"""The test helpers' own identities agree with the vectors of docs/REFERENCE.md §2."""
from cidlib import JSON_CODEC, cid, jcs, key_document


def test_content_cids():
    assert cid(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert cid(b"hello world\n") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_request_cid_of_the_spec_key_document():
    document = key_document("openai", "chat.completions",
                            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0})
    assert document == b'{"namespace":"openai","op":"chat.completions","request":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","temperature":0}}'
    assert cid(document, JSON_CODEC) == "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"


def test_jcs_sorts_by_utf16():
    assert jcs({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'


def test_jcs_numbers_follow_ecmascript():
    import struct
    # (IEEE-754 bits, expected) from RFC 8785 Appendix B and the Swift traps of docs/REFERENCE.md §2.3.
    for bits, expected in [("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
                           ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
                           ("4340000000000000", "9007199254740992"), ("4340000000000001", "9007199254740994"),
                           ("4430000000000000", "295147905179352830000"), ("444b1ae4d6e2ef50", "1e+21"),
                           ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
                           ("3eb0c6f7a0b5ed8d", "0.000001"), ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
                           ("41b3de4355555555", "333333333.3333333")]:
        assert jcs(struct.unpack(">d", bytes.fromhex(bits))[0]) == expected, bits
    for value, expected in [(1e16, "10000000000000000"), (1e-6, "0.000001"), (100.0, "100"), (-0.0, "0"),
                            (1e-7, "1e-7"), (4.50, "4.5"), (2e-3, "0.002"), (1e30, "1e+30"), (-1.5e-10, "-1.5e-10")]:
        assert jcs(value) == expected


def test_jcs_strings_and_order():
    assert jcs("\u20ac$\u000f\nA'B\"\\/\u007f") == '"\u20ac$\\u000f\\nA\'B\\"\\\\/\u007f"'
    assert jcs({"b": [1, True, None], "a": {"d": 1.0, "c": "x"}}) == '{"a":{"c":"x","d":1},"b":[1,true,null]}'
    assert jcs({"\u20ac": 1, "1": 2, "\u0080": 3, "\U0001f602": 4, "\u00f6": 5, "\ufb33": 6, "</script>": 7}) == \
        '{"1":2,"</script>":7,"\u0080":3,"\u00f6":5,"\u20ac":1,"\U0001f602":4,"\ufb33":6}'


def test_request_cid_drops_only_the_listed_fields():
    from cidlib import request_cid
    plain = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    assert request_cid("openai", "chat.completions", plain) == "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"
    noisy = {**plain, "user": "u", "metadata": {"a": "b"}, "store": True, "cidcache": {"ttl": 5}}
    assert request_cid("openai", "chat.completions", noisy) == request_cid("openai", "chat.completions", plain)
    assert request_cid("openai", "chat.completions", {**plain, "seed": 1}) != request_cid("openai", "chat.completions", plain)
    assert request_cid("groq", "chat.completions", plain) != request_cid("openai", "chat.completions", plain)
