"""Sample buckets (issue 20) through the HTTP front with the openai SDK: k asks
of one sampled prompt see k distinct answers, each telling its index in
`x-cidcache-sample: i/N`; answers of requests that are not sampled with N > 1
have no such header. Every key here is a made-up test value."""
from conftest import chat
from http_front import front, llm  # noqa: F401  (fixtures)
from http_front import openai_client
from samples_support import sampled, stored_samples


def create(client, request, **members):
    return client.chat.completions.with_raw_response.create(**request, extra_body={"cidcache": members})


def text(raw):
    return raw.parse().choices[0].message.content


def index(raw):
    return int(raw.headers["x-cidcache-sample"].split("/")[0])


def test_k_asks_over_http_see_k_distinct_samples(front, fake):
    client = openai_client(front)
    request = sampled("an eval over http")
    first = [create(client, request, samples=3) for _ in range(3)]
    assert [raw.headers["x-cidcache"] for raw in first] == ["miss"] * 3
    assert [raw.headers["x-cidcache-sample"] for raw in first] == ["0/3", "1/3", "2/3"]
    assert len({text(raw) for raw in first}) == 3
    assert len(fake.calls_to("/chat/completions")) == 3

    again = [create(client, request, samples=3) for _ in range(3)]
    assert [raw.headers["x-cidcache"] for raw in again] == ["hit"] * 3
    assert {raw.headers["x-cidcache-sample"] for raw in again} == {"0/3", "1/3", "2/3"}
    assert {raw.content for raw in again} == {raw.content for raw in first}
    assert len(fake.calls_to("/chat/completions")) == 3

    # The same samples as the mount's, by index.
    stored = stored_samples(front, request)
    for raw in first + again:
        assert stored[index(raw)] == raw.content
    picked = create(client, request, samples=3, sample=1)
    assert picked.headers["x-cidcache-sample"] == "1/3" and picked.content == stored[1]
    assert [line["sample"] for line in front.json_lines("log")] == [index(raw) for raw in first + again + [picked]]


def test_answers_not_sampled_with_several_samples_have_no_sample_header(front, fake):
    client = openai_client(front)
    deterministic = chat("temperature zero over http")
    answers = [create(client, deterministic, samples=3) for _ in range(3)]
    assert [raw.headers["x-cidcache"] for raw in answers] == ["miss", "hit", "hit"]
    assert len({raw.content for raw in answers}) == 1
    one = sampled("one sample over http")
    answers += [create(client, one, samples=1) for _ in range(2)]
    answers.append(client.chat.completions.with_raw_response.create(**one))
    assert len({raw.content for raw in answers[3:]}) == 1
    assert not any("x-cidcache-sample" in raw.headers for raw in answers)
    assert len(fake.calls_to("/chat/completions")) == 2
    assert not any("sample" in line for line in front.json_lines("log"))
