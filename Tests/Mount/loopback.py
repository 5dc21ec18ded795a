"""The HTTP server every fake runs on: stdlib's threading server, with a
listen backlog for bursts of connections (the stdlib's 5 drops the SYNs of a
burst of 32 misses, which the client's kernel resends 1, 3, 7 and 15 s later)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128


class QuietHandler(BaseHTTPRequestHandler):
    """A fake's request handler: HTTP/1.1 (kept-alive connections, chunked bodies), no access log."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


def send_answer(handler, status, data, content_type, headers=()):
    """Answers with `data` (bytes), its type and length, then `headers`."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def serve_on_loopback(handler):
    """A LoopbackHTTPServer of `handler` on a free 127.0.0.1 port, serving from
    a thread of its own: (server, its base URL). End it with `stop(server)`."""
    server = LoopbackHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stop(server):
    server.shutdown()
    server.server_close()
