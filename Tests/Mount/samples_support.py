"""What the sample-bucket tests share (issue 20; test_samples*.py): sampled
requests (temperature 1, so the fake answers each upstream call anew), asks
with the control object's `samples`/`sample`, and the mount's views of an
entry's samples."""
import json
import os

from conftest import chat

OP = ("openai", "chat.completions")


def sampled(content, **extra):
    """A chat request at a sampled temperature."""
    return chat(content, temperature=1, **extra)


def control(request, samples=None, sample=None, **more):
    """The request with a control object holding those members (None: left out)."""
    members = {"samples": samples, "sample": sample, **more}
    return {**request, "cidcache": {k: v for k, v in members.items() if v is not None}}


def ask(m, request, samples=3, sample=None, **more):
    return m.query(*OP, control(request, samples, sample, **more))


def ask_with_sample_xattr(m, request, samples=3, sample=None, **more):
    """One query transaction: (the answer, user.cidcache.sample of the query file read before closing it)."""
    fd = os.open(m.p("api", *OP, "query"), os.O_RDWR)
    try:
        os.write(fd, json.dumps(control(request, samples, sample, **more)).encode())
        body = b"".join(iter(lambda: os.read(fd, 65536), b""))
        return body, os.getxattr(fd, "user.cidcache.sample").decode()
    finally:
        os.close(fd)


def content(body):
    return json.loads(body)["choices"][0]["message"]["content"]


def last_lines(m, count):
    return m.json_lines("log")[-count:]


def samples_folder(m, request):
    return m.entry(*OP, request) + ".samples"


def listed_samples(m, request):
    """The names in the entry's .samples folder (none when the folder is not there)."""
    try:
        return sorted(os.listdir(samples_folder(m, request)), key=int)
    except FileNotFoundError:
        return []


def stored_samples(m, request):
    """{index: bytes} of every sample file of the entry."""
    folder = samples_folder(m, request)
    return {int(name): read_file(os.path.join(folder, name)) for name in listed_samples(m, request)}


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def samples_xattr(m, request):
    return os.getxattr(m.entry(*OP, request), "user.cidcache.samples").decode()
