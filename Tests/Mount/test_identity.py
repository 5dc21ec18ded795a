"""The test helpers' own identities agree with SPEC section 5's vectors."""
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
