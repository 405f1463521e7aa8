# SPDX-License-Identifier: MIT
"""A real S3-compatible HTTP server on loopback, for the scale-out tests.

:class:`S3TestServer` serves moto's S3 backend (the application moto's
standalone server runs) with werkzeug on ``127.0.0.1`` and a free port,
behind a small WSGI layer that

* records every request (method, key, range), so that a test can show
  which objects were fetched (``gets``) and which never were;
* injects faults per key: ``fail_always`` answers every GET with
  ``500 InternalError``; ``slow_down`` answers the first N GETs with
  ``503 SlowDown`` (throttling), then serves the object; ``fail_from``
  fails every ranged GET starting at or after an offset (an object that
  breaks after part of it was read).

Nothing listens on any other address.  The environment gets dummy
credentials and the instance-metadata lookup is switched off, so no
request leaves the machine.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
pytest.importorskip("moto")

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>{message}</Message><RequestId>test</RequestId></Error>"
)


class _Quiet(WSGIRequestHandler):
    """No access log on stderr."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(slots=True)
class Request:
    """One request as the server saw it."""

    method: str
    bucket: str
    key: str
    query: str
    range: str | None


@dataclass
class S3TestServer:
    """moto's S3 on 127.0.0.1 with request log and fault injection."""

    requests: list[Request] = field(default_factory=list)
    fail_always: set[str] = field(default_factory=set)
    slow_down: Counter[str] = field(default_factory=Counter)
    fail_from: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._inner = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet
        )
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True
        )

    @property
    def url(self) -> str:
        """The endpoint URL (``--s3-endpoint-url``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> S3TestServer:
        """Serve in a background thread."""
        assert "127.0.0.1" == self.host
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._thread.join(timeout=10)

    # -- the WSGI layer ----------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
        bucket, _sep, key = path.lstrip("/").partition("/")
        method = environ["REQUEST_METHOD"]
        with self.lock:
            self.requests.append(
                Request(
                    method,
                    bucket,
                    key,
                    environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_RANGE"),
                )
            )
            fault = None
            if method == "GET" and key:
                if key in self.fail_always:
                    fault = ("500 Internal Server Error", "InternalError")
                elif self.slow_down[key] > 0:
                    self.slow_down[key] -= 1
                    fault = ("503 Slow Down", "SlowDown")
                elif (
                    key in self.fail_from
                    and _range_start(environ.get("HTTP_RANGE"))
                    >= self.fail_from[key]
                ):
                    fault = ("500 Internal Server Error", "InternalError")
        if fault is not None:
            status, code = fault
            body = _ERROR.format(code=code, message=f"Injected {code}")
            start_response(
                status,
                [
                    ("Content-Type", "application/xml"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body.encode()]
        return self._inner(environ, start_response)

    # -- what happened -------------------------------------------------------

    def object_gets(self) -> Counter[str]:
        """GET requests per object key (listings excluded)."""
        with self.lock:
            return Counter(
                r.key for r in self.requests if r.method == "GET" and r.key
            )

    def clear(self) -> None:
        """Forget the requests seen so far."""
        with self.lock:
            self.requests.clear()

    # -- filling buckets ---------------------------------------------------

    def client(self) -> Any:
        """A boto3 client of this server."""
        return boto3.client("s3", endpoint_url=self.url)

    def upload_tree(self, bucket: str, root: Path, prefix: str = "") -> int:
        """Put every file under ``root`` at ``prefix + relative path``."""
        client = self.client()
        buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
        if bucket not in buckets:
            client.create_bucket(Bucket=bucket)
        count = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(root).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            count += 1
        return count


def _range_start(header: str | None) -> int:
    """The first byte of a ``bytes=A-B`` range (0 without one)."""
    if not header or not header.startswith("bytes="):
        return 0
    return int(header[6:].split("-", 1)[0] or 0)


def set_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials; no instance-metadata lookups; no endpoint."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def serve() -> Iterator[S3TestServer]:
    """Start a server (for a fixture); stop it afterwards."""
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    server = S3TestServer().start()
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def local_files(root: Path) -> list[Path]:
    """The object files of a generated tree, in key order."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(("_", "."))
    )


def keys_under(paths: Iterable[Path], root: Path, prefix: str) -> set[str]:
    """The object keys the files ``paths`` were uploaded as."""
    return {prefix + p.relative_to(root).as_posix() for p in paths}
