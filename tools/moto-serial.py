#!/usr/bin/env python3
"""moto's server (DynamoDB, SQS, Secrets Manager, ...) on 127.0.0.1, one request at a time.

moto's own `moto_server` serves requests on many threads at once, and its DynamoDB is not
safe under that: a conditional put checks and then writes without a lock, and a failed
TransactWriteItems rolls back by restoring a copy of the table taken before it ran, wiping
what other requests wrote meanwhile. Real DynamoDB never shows those duplicates or lost
writes. This launcher serves the same WSGI application behind one lock: connections are
accepted concurrently (keep-alive works), requests are answered strictly one after the
other, so every request sees the effects of every request answered before it.

Usage (with the project's venv, made by scripts/setup-tools):

    .venv/bin/python tools/moto-serial.py [--port N] [--exit-on-stdin-eof] [--verbose]

--port 0 (the default) takes a free port. Once listening it prints exactly one line to
standard output and flushes it:

    moto-serial: listening on http://127.0.0.1:PORT

so a caller reads that line and points AWS_ENDPOINT_URL at the address. With
--exit-on-stdin-eof the server also stops when its standard input closes, so a test that
dies without stopping it does not leave it running. SIGTERM and SIGINT stop it too.
Everything moto knows is in memory and gone when the process ends.
"""

import argparse
import os
import signal
import sys
import threading


def serialized(app):
    """The WSGI application `app`, answering one request at a time.

    The lock is held until the response body has been produced in full, so a streamed
    body cannot interleave with the next request's work.
    """
    lock = threading.Lock()

    def serve(environ, start_response):
        with lock:
            body = app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return serve


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input is closed (the parent went away)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to standard error")
    args = parser.parse_args()

    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server
    except ImportError as err:
        sys.exit(f"moto-serial: moto[server] is not installed ({err}): run scripts/setup-tools")

    # One line per request on standard error only with --verbose.
    if not args.verbose:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # HTTP/1.1 keep-alive, as the AWS SDKs expect; the handler threads only wait for the lock.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    app = serialized(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    server.daemon_threads = True

    def stop(*_):
        # shutdown() waits for serve_forever to return: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:

        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            stop()

        threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"moto-serial: listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
    server.server_close()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
