"""Sample buckets (issue 20) through the mount: `"cidcache": {"samples": N}`
keeps up to N answers of a sampled request, fetched one upstream call each,
then served in rotation; `"sample": i` picks one. Temperature 0 and
non-generation operations keep one answer. The fake answers every upstream
call of a sampled chat request anew, so distinct bodies mean distinct calls."""
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor

from cidlib import cid, request_cid
from conftest import chat
from samples_support import (
    OP,
    ask,
    ask_with_sample_xattr,
    control,
    last_lines,
    listed_samples,
    read_file,
    sampled,
    samples_folder,
    samples_xattr,
    stored_samples,
)
from shared_support import metric

TOKENS_PER_ANSWER = 21  # the fake's usage.total_tokens


def chat_calls(fake):
    return len(fake.calls_to("/chat/completions"))


def test_three_asks_make_three_calls_and_three_distinct_answers(mount, fake):
    request = sampled("three asks")
    bodies = [ask(mount, request) for _ in range(3)]
    assert len(set(bodies)) == 3
    assert chat_calls(fake) == 3
    lines = mount.json_lines("log")
    assert [line["outcome"] for line in lines] == ["miss"] * 3
    assert [line["sample"] for line in lines] == [0, 1, 2], "each ask takes the lowest free slot"
    assert [line["cid"] for line in lines] == [cid(body) for body in bodies]
    stats = mount.stats("openai.json")
    assert (stats["misses"], stats["samples_fetched"], stats["hits"]) == (3, 3, 0)
    assert mount.stats()["samples_fetched"] == 3
    assert metric(mount, 'cidcache_samples_fetched_total{namespace="openai"}') == 3


def test_once_full_asks_rotate_through_the_samples_without_calls(mount, fake):
    request = sampled("rotation")
    filled = {ask(mount, request) for _ in range(3)}
    for k in (1, 2, 3):
        seen = [ask(mount, request) for _ in range(k)]
        assert len(set(seen)) == k and set(seen) <= filled, f"{k} consecutive asks"
    assert chat_calls(fake) == 3
    hits = last_lines(mount, 6)
    assert [line["outcome"] for line in hits] == ["hit"] * 6
    assert all(line["sample"] in (0, 1, 2) for line in hits)
    stats = mount.stats("openai.json")
    assert (stats["hits"], stats["misses"], stats["samples_fetched"]) == (6, 3, 3)
    assert stats["tokens_saved"] == 6 * TOKENS_PER_ANSWER, "tokens saved per served hit"
    assert stats["cost_saved_usd"] > 0


def test_sample_i_returns_that_sample_fetching_it_when_missing(mount, fake):
    request = sampled("sample i")
    two = ask(mount, request, sample=2)
    assert chat_calls(fake) == 1
    assert ask(mount, request, sample=2) == two
    assert chat_calls(fake) == 1
    assert [(line["outcome"], line["sample"]) for line in last_lines(mount, 2)] == [("miss", 2), ("hit", 2)]
    zero = ask(mount, request, sample=0)
    assert zero != two and chat_calls(fake) == 2
    assert listed_samples(mount, request) == ["0", "2"]
    assert samples_xattr(mount, request) == "2/3"
    one = ask(mount, request)
    assert chat_calls(fake) == 3 and last_lines(mount, 1)[0]["sample"] == 1, "the free slot"
    assert stored_samples(mount, request) == {0: zero, 1: one, 2: two}
    for i, body in enumerate((zero, one, two)):
        assert ask(mount, request, sample=i) == body
    assert chat_calls(fake) == 3


def test_samples_and_sample_out_of_range_or_of_the_wrong_type_are_einval(mount, fake):
    request = sampled("bad control")
    for members in ({"samples": 3, "sample": 3}, {"samples": 3, "sample": -1}, {"samples": 3, "sample": "1"},
                    {"samples": 0}, {"samples": 65}, {"samples": "3"}, {"samples": True}, {"sample": 1}):
        assert mount.query_errno(*OP, {**request, "cidcache": members}) == "EINVAL", members
    assert chat_calls(fake) == 0
    assert all(line["errno"] == "EINVAL" for line in mount.json_lines("errors"))
    for samples, sample in ((64, 63), (1, 0)):
        assert mount.query_errno(*OP, control(request, samples, sample)) is None, (samples, sample)


def test_temperature_zero_and_embeddings_ignore_samples(mount, fake):
    deterministic = chat("deterministic", temperature=0)
    assert len({ask(mount, deterministic) for _ in range(3)}) == 1
    assert chat_calls(fake) == 1
    embedding = {"model": "text-embedding-3-small", "input": "one answer"}
    assert len({mount.query("openai", "embeddings", control(embedding, 3)) for _ in range(3)}) == 1
    assert len(fake.calls_to("/embeddings")) == 1
    lines = mount.json_lines("log")
    assert [line["outcome"] for line in lines] == ["miss", "hit", "hit"] * 2
    assert not any("sample" in line for line in lines)
    assert mount.stats("openai.json")["samples_fetched"] == 0


def test_sample_zero_is_the_entry_of_the_request_asked_without_samples(mount, fake):
    request = sampled("sample zero")
    plain = mount.query(*OP, request)
    assert "sample" not in last_lines(mount, 1)[0], "no sample field when N is 1"
    assert ask(mount, request, sample=0) == plain
    assert chat_calls(fake) == 1
    other = ask(mount, request)
    assert other != plain and chat_calls(fake) == 2 and last_lines(mount, 1)[0]["sample"] == 1
    assert read_file(mount.entry(*OP, request)) == plain
    assert [mount.query(*OP, request) for _ in range(2)] == [plain, plain], "N = 1 serves sample 0"
    assert chat_calls(fake) == 2


def test_config_samples_per_operation_and_namespace_and_the_request_wins(make_mount, fake):
    m = make_mount(samples={"openai": {"chat.completions": 3}, "groq": {"chat.completions": 4}},
                   namespaces={"groq": {"samples": {"chat.completions": 2}}}).start()
    configured = sampled("configured")
    assert len({m.query(*OP, configured) for _ in range(3)}) == 3
    assert chat_calls(fake) == 3
    assert m.query(*OP, configured) in set(stored_samples(m, configured).values())
    assert chat_calls(fake) == 3
    groq = sampled("the namespace's own section")
    assert len({m.query("groq", "chat.completions", groq) for _ in range(4)}) == 2
    assert chat_calls(fake) == 5
    assert len({ask(m, sampled("asked for one"), samples=1) for _ in range(3)}) == 1
    assert chat_calls(fake) == 6
    assert len({ask(m, sampled("asked for five"), samples=5) for _ in range(5)}) == 5
    assert chat_calls(fake) == 11
    assert len({m.query(*OP, chat("deterministic", temperature=0)) for _ in range(3)}) == 1
    assert chat_calls(fake) == 12


def test_eight_concurrent_first_asks_make_three_calls(mount, fake):
    fake.delay = 1.0
    request = sampled("eight at once")
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: ask(mount, request), range(8)))
    assert chat_calls(fake) == 3
    stored = stored_samples(mount, request)
    assert sorted(stored) == [0, 1, 2] and len(set(stored.values())) == 3
    assert set(answers) == set(stored.values()), "each asker got one of the 3 samples"
    lines = mount.json_lines("log")
    assert sorted(line["outcome"] for line in lines) == ["coalesced"] * 5 + ["miss"] * 3
    assert sorted(line["sample"] for line in lines if line["outcome"] == "miss") == [0, 1, 2]
    assert samples_xattr(mount, request) == "3/3"
    assert mount.stats("openai.json")["samples_fetched"] == 3


def test_an_expired_sample_alone_is_fetched_again(mount, fake):
    request = sampled("one expires")
    ask(mount, request, sample=0)
    ask(mount, request, sample=1, ttl=2)
    ask(mount, request, sample=2)
    before = stored_samples(mount, request)
    assert sorted(before) == [0, 1, 2]
    path = os.path.join(samples_folder(mount, request), "1")
    assert os.getxattr(path, "user.cidcache.ttl") == b"2"
    assert os.getxattr(os.path.join(samples_folder(mount, request), "0"), "user.cidcache.ttl") == b"1800"
    time.sleep(3.1)
    assert listed_samples(mount, request) == ["0", "2"]
    assert samples_xattr(mount, request) == "2/3"
    bodies = [ask(mount, request) for _ in range(3)]
    assert chat_calls(fake) == 4, "only the expired slot is fetched again"
    assert [(line["outcome"], line["sample"]) for line in last_lines(mount, 3)][0] == ("miss", 1)
    assert [line["outcome"] for line in last_lines(mount, 2)] == ["hit", "hit"]
    after = stored_samples(mount, request)
    assert (after[0], after[2]) == (before[0], before[2]) and after[1] != before[1]
    assert bodies[0] == after[1] and set(bodies) == set(after.values()), "rotation goes on after the slot fetched"


def test_rm_of_the_entry_drops_every_sample(mount, fake):
    request = sampled("rm drops all")
    for _ in range(3):
        ask(mount, request)
    assert listed_samples(mount, request) == ["0", "1", "2"]
    os.unlink(mount.entry(*OP, request))
    assert not os.path.exists(mount.entry(*OP, request))
    assert listed_samples(mount, request) == []
    ask(mount, request)
    assert chat_calls(fake) == 4
    assert [(line["outcome"], line["sample"]) for line in last_lines(mount, 1)] == [("miss", 0)]
    assert listed_samples(mount, request) == ["0"] and samples_xattr(mount, request) == "1/3"


def test_refresh_replaces_the_one_sample_it_would_have_served(mount, fake):
    request = sampled("refreshed")
    for _ in range(3):
        ask(mount, request)
    before = stored_samples(mount, request)
    fresh = ask(mount, request, refresh=True)
    assert chat_calls(fake) == 4
    line = last_lines(mount, 1)[0]
    assert line["outcome"] == "miss"
    replaced = line["sample"]
    after = stored_samples(mount, request)
    assert sorted(after) == [0, 1, 2] and samples_xattr(mount, request) == "3/3"
    assert after[replaced] == fresh and fresh not in before.values()
    assert {i: b for i, b in after.items() if i != replaced} == {i: b for i, b in before.items() if i != replaced}
    assert mount.stats("openai.json")["samples_fetched"] == 4


def test_the_samples_in_the_mount_tree(mount):
    request = sampled("tree")
    rcid = request_cid(*OP, request)
    answers = [ask_with_sample_xattr(mount, request) for _ in range(3)]
    assert [index for _, index in answers] == [str(line["sample"]) for line in mount.json_lines("log")]
    assert sorted(index for _, index in answers) == ["0", "1", "2"]
    by_index = {int(index): body for body, index in answers}
    entry = mount.entry(*OP, request)
    assert read_file(entry) == by_index[0], "the entry file reads sample 0"
    assert samples_xattr(mount, request) == "3/3"
    listing = os.listdir(os.path.dirname(entry))
    assert rcid in listing and rcid + ".samples" not in listing
    assert listed_samples(mount, request) == ["0", "1", "2"]
    for i, body in by_index.items():
        path = os.path.join(samples_folder(mount, request), str(i))
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o444 and st.st_size == len(body)
        assert read_file(path) == body
        assert os.getxattr(path, "user.cidcache.request").decode() == rcid
        content_cid = os.getxattr(path, "user.cidcache.cid").decode()
        assert content_cid == cid(body) and mount.read("cid", content_cid) == body
    # Hits in rotation tell their sample the same way.
    for _ in range(3):
        body, index = ask_with_sample_xattr(mount, request)
        line = last_lines(mount, 1)[0]
        assert line["outcome"] == "hit" and str(line["sample"]) == index and by_index[int(index)] == body
