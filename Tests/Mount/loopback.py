"""The HTTP server every fake runs on: stdlib's threading server, with a
listen backlog for bursts of connections (the stdlib's 5 drops the SYNs of a
burst of 32 misses, which the client's kernel resends 1, 3, 7 and 15 s later)."""
from http.server import ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128
