# SPDX-License-Identifier: MIT
"""``s3://`` inputs: key-filtered listings and streaming reads with retries.

Why: a large estate writes its flow logs into central buckets; users
should read them where they are, without downloading first.  Every
command that reads logs goes through :mod:`pysilk_ext.sources`, which
hands ``s3://bucket/prefix`` inputs to this module:

* **Listing** (:func:`expand_url`) walks the bucket like a directory
  tree, one ``ListObjectsV2`` call (delimiter ``/``) per level, and
  applies the account, region and time filters
  (:class:`~pysilk_ext.s3keys.KeyFilter`) to each *prefix* before listing
  it and to each key before the object is ever fetched -- in both AWS
  layouts (``AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/...`` and the
  Hive-style ``aws-account-id=/aws-region=/year=/...``).  Sizes and ETags
  come with the listing, so no ``HEAD`` is needed.  A URL that is not a
  prefix ending in ``/`` may be an object key, a "directory" without its
  slash, or any key prefix (``.../fl-0abc_20260801T00``): its parent is
  listed and the entries starting with it are kept.
* **Reading** (:class:`S3ObjectReader`) streams an object as consecutive
  ranged ``GET``\\ s of :attr:`S3Config.block_size` bytes (8 MiB: one
  request for a typical 5-minute object).  Nothing goes to disk; memory
  holds one block.  (Parquet needs random access: the reader above reads
  such an object whole into memory.)
* **Retries**: every request is retried with exponential backoff and
  jitter (:func:`call_with_retries`) on throttling (``SlowDown``, 503),
  server errors (5xx), time-outs and dropped connections; a range that
  fails mid-object is fetched again from the same offset, so a retry
  never repeats or loses bytes.  Errors that retrying cannot fix
  (``NoSuchKey``, ``AccessDenied``, ...) fail at once.  A request that
  still fails raises :class:`S3ReadError` (an ``OSError``), which the
  reader reports as ``Cannot open 's3://...': ...``; the commands skip
  that object, count it and list it in ``--failed-inputs`` for a rerun.

Credentials follow the standard AWS chain (environment, shared
credentials and config files with ``AWS_PROFILE``, container and
instance roles) through s3fs/aiobotocore.  ``--s3-endpoint-url`` (or the
environment's ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) points at
an S3-compatible server (MinIO, Ceph, a test server).

The settings of a process are one :class:`S3Config` (:func:`configure`);
worker processes receive it with their work.  s3fs and its dependencies
are the optional extra ``pysilk_ext[s3]``: without them an ``s3://``
input fails with a message saying so.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pysilk_ext.errors import VpcParseError
from pysilk_ext.s3keys import KeyFilter, parse_log_key

__all__ = [
    "S3_SCHEME",
    "S3Config",
    "S3Counters",
    "S3ObjectReader",
    "S3ReadError",
    "call_with_retries",
    "configure",
    "counters",
    "current_config",
    "expand_url",
    "filesystem",
    "is_retryable",
    "is_s3_url",
    "open_object",
    "split_url",
    "write_failed_list",
]

S3_SCHEME = "s3://"
#: Tries per request by default (the first and five retries).
DEFAULT_ATTEMPTS = 6
#: Bytes per ranged GET by default: one request for a typical object.
DEFAULT_BLOCK_SIZE = 8 << 20
T = TypeVar("T")

#: errno values of s3fs's translated errors that a retry can cure:
#: EBUSY (SlowDown, 503 ServiceUnavailable, OperationAborted),
#: EREMOTEIO (500 InternalError), EIO (other 5xx and unknown codes).
_RETRY_ERRNOS = frozenset(
    {errno.EBUSY, getattr(errno, "EREMOTEIO", errno.EIO), errno.EIO}
)
#: OSError subclasses a retry cannot cure.
_FINAL_OSERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)


def is_s3_url(path: object) -> bool:
    """True for an ``s3://`` (or ``s3a://``) URL."""
    return isinstance(path, str) and path.startswith((S3_SCHEME, "s3a://"))


def split_url(url: str) -> tuple[str, str]:
    """Return ``(bucket, key)`` of an ``s3://bucket/key`` URL.

    Raises:
        VpcParseError: the URL names no bucket.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    bucket, _sep, key = rest.partition("/")
    if not bucket:
        raise VpcParseError(f"Invalid S3 URL '{url}': No bucket", path=url)
    return bucket, key


@dataclass(frozen=True, slots=True)
class S3Config:
    """How this process talks to S3 (picklable: sent to workers).

    Attributes:
        endpoint_url: an S3-compatible server; None: the environment's
            ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, else AWS.
        attempts: tries per request (the first one included).
        backoff: seconds before the first retry; doubled for each further
            retry (with +-50% jitter so that workers do not retry in step).
        max_backoff: the longest pause between two tries.
        block_size: bytes per ranged GET.
        anon: sign no request (public buckets).
    """

    endpoint_url: str | None = None
    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = 0.25
    max_backoff: float = 20.0
    block_size: int = DEFAULT_BLOCK_SIZE
    anon: bool = False

    def endpoint(self) -> str | None:
        """The endpoint in effect (explicit, else the environment's)."""
        return (
            self.endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )

    @classmethod
    def from_environment(cls, endpoint_url: str | None = None) -> S3Config:
        """Defaults, with ``PYSILK_EXT_S3_RETRIES`` (retries per request)
        and ``PYSILK_EXT_S3_BLOCK_SIZE`` (bytes per GET) when set."""
        attempts = DEFAULT_ATTEMPTS
        text = os.environ.get("PYSILK_EXT_S3_RETRIES", "").strip()
        if text.isdigit():
            attempts = int(text) + 1
        block = DEFAULT_BLOCK_SIZE
        text = os.environ.get("PYSILK_EXT_S3_BLOCK_SIZE", "").strip()
        if text.isdigit() and int(text) > 0:
            block = int(text)
        return cls(
            endpoint_url=endpoint_url, attempts=attempts, block_size=block
        )


@dataclass(slots=True)
class S3Counters:
    """Requests made by this process (summed over workers for reports)."""

    lists: int = 0
    gets: int = 0
    retries: int = 0
    failures: int = 0
    bytes: int = 0

    def add(self, other: S3Counters) -> None:
        """Add ``other``'s counts to these."""
        for f in dataclasses.fields(self):
            setattr(
                self, f.name, getattr(self, f.name) + getattr(other, f.name)
            )

    def copy(self) -> S3Counters:
        """A snapshot."""
        return dataclasses.replace(self)

    def minus(self, earlier: S3Counters) -> S3Counters:
        """The counts since the snapshot ``earlier``."""
        return S3Counters(
            **{
                f.name: getattr(self, f.name) - getattr(earlier, f.name)
                for f in dataclasses.fields(self)
            }
        )


_state_lock = threading.Lock()
_config = S3Config.from_environment()
_counters = S3Counters()
_filesystems: dict[tuple[str | None, bool], Any] = {}


def configure(config: S3Config) -> None:
    """Make ``config`` this process's settings for ``s3://`` inputs."""
    global _config  # noqa: PLW0603 - one setting per process, by design
    with _state_lock:
        _config = config


def current_config() -> S3Config:
    """This process's settings (see :func:`configure`)."""
    return _config


def counters() -> S3Counters:
    """This process's request counts so far (a live object)."""
    return _counters


class S3ReadError(OSError):
    """An S3 request failed after every retry (or could not be made).

    ``strerror`` says why and how many tries were made.
    """


def _s3fs_module() -> Any:
    try:
        import s3fs  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise S3ReadError(
            errno.ENOSYS,
            "Reading s3:// inputs needs s3fs (pip install 'pysilk_ext[s3]')",
        ) from exc
    return s3fs


def filesystem(config: S3Config | None = None) -> Any:
    """The s3fs filesystem of ``config`` (one per process and endpoint).

    s3fs's and botocore's own retries are switched off: every retry is
    :func:`call_with_retries`'s, so that they are counted, bounded and
    resume ranges at the right offset.

    Raises:
        S3ReadError: s3fs is not installed.
    """
    cfg = config or _config
    key = (cfg.endpoint(), cfg.anon)
    with _state_lock:
        fs = _filesystems.get(key)
        if fs is None:
            s3fs = _s3fs_module()
            client_kwargs: dict[str, Any] = {}
            if key[0] is not None:
                client_kwargs["endpoint_url"] = key[0]
            fs = s3fs.S3FileSystem(
                anon=cfg.anon,
                client_kwargs=client_kwargs,
                config_kwargs={"retries": {"total_max_attempts": 1}},
                skip_instance_cache=True,
                use_listings_cache=False,
            )
            fs.retries = 1  # s3fs's retry loop: one try (ours retry)
            _filesystems[key] = fs
    return fs


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------
def is_retryable(exc: BaseException) -> bool:
    """True when retrying the request may succeed (see module doc)."""
    if isinstance(exc, _FINAL_OSERRORS):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _RETRY_ERRNOS or exc.errno is None
    name = type(exc).__name__
    # botocore/aiohttp transport errors that s3fs passes through untranslated
    return name in {
        "HTTPClientError",
        "IncompleteRead",
        "FSTimeoutError",
        "ResponseParserError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ClientOSError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
    }


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text[:1].upper() + text[1:]


def call_with_retries(
    fn: Callable[[], T],
    *,
    config: S3Config | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Return ``fn()``, retrying transient failures with backoff.

    Raises:
        OSError: a failure that retrying cannot cure, as s3fs raised it
            (``FileNotFoundError`` for ``NoSuchKey``, ...).
        S3ReadError: the last try failed, or a non-OSError failure
            (missing credentials, a malformed endpoint).
    """
    cfg = config or _config
    attempts = max(1, cfg.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            retry = is_retryable(exc)
            if not retry or attempt == attempts:
                _counters.failures += 1
                if not retry and isinstance(exc, OSError):
                    raise
                tried = f" (gave up after {attempt} tries)" if retry else ""
                raise S3ReadError(errno.EIO, f"{_why(exc)}{tried}") from exc
            _counters.retries += 1
            pause = min(cfg.max_backoff, cfg.backoff * 2 ** (attempt - 1))
            # jitter: workers hitting the same throttled prefix spread out
            sleep(pause * (0.5 + random.random()))  # noqa: S311 - not crypto
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------
def _ls(fs: Any, path: str, cfg: S3Config) -> list[dict[str, Any]]:
    def call() -> list[dict[str, Any]]:
        _counters.lists += 1
        try:
            return list(fs.ls(path, detail=True, refresh=True))
        except FileNotFoundError:
            return []

    return call_with_retries(call, config=cfg)


def _skip_name(name: str) -> bool:
    return name.startswith(("_", "."))


def _entry(info: dict[str, Any], key_filter: KeyFilter) -> Any:
    from pysilk_ext.sources import InputFile, SourceSkipped  # noqa: PLC0415

    url = S3_SCHEME + str(info["name"])
    key = parse_log_key(url)
    reason = key_filter.reject_reason(key)
    if reason is not None:
        return SourceSkipped(url, reason)
    etag = info.get("ETag") or info.get("etag")
    return InputFile(
        url,
        key,
        size=int(info.get("size", info.get("Size", 0)) or 0),
        etag=str(etag).strip('"') if etag else None,
    )


def _walk(
    fs: Any, path: str, key_filter: KeyFilter, cfg: S3Config
) -> Iterator[Any]:
    from pysilk_ext.sources import SourceSkipped  # noqa: PLC0415

    for info in sorted(_ls(fs, path, cfg), key=lambda i: str(i["name"])):
        name = str(info["name"]).rstrip("/")
        base = name.rsplit("/", 1)[-1]
        if _skip_name(base) or name == path.rstrip("/"):
            continue
        if info.get("type") == "directory":
            prefix = S3_SCHEME + name + "/"
            reason = key_filter.reject_reason(parse_log_key(prefix))
            if reason is not None:
                yield SourceSkipped(prefix, reason)
                continue
            yield from _walk(fs, name + "/", key_filter, cfg)
        elif not str(info["name"]).endswith("/"):
            yield _entry(info, key_filter)


def expand_url(
    url: str,
    key_filter: KeyFilter | None = None,
    config: S3Config | None = None,
) -> Iterator[Any]:
    """Yield the objects under ``url`` (:class:`~pysilk_ext.sources.InputFile`
    with size and ETag) and what the filter ruled out
    (:class:`~pysilk_ext.sources.SourceSkipped`), in key order.

    Nothing is fetched: only listings are made (see module doc).

    Raises:
        VpcParseError: the listing failed, or nothing exists at ``url``.
    """
    cfg = config or _config
    flt = key_filter or KeyFilter()
    bucket, key = split_url(url)
    try:
        fs = filesystem(cfg)
        found = False
        if not key or key.endswith("/"):
            for item in _walk(fs, f"{bucket}/{key}", flt, cfg):
                found = True
                yield item
        else:
            parent = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            full = f"{bucket}/{key}"
            listing = sorted(
                _ls(fs, f"{bucket}/{parent}", cfg),
                key=lambda i: str(i["name"]),
            )
            for info in listing:
                name = str(info["name"]).rstrip("/")
                if not name.startswith(full):
                    continue
                found = True
                if info.get("type") == "directory":
                    yield from _walk(fs, name + "/", flt, cfg)
                else:
                    yield _entry(info, flt)
    except OSError as exc:
        raise VpcParseError(
            f"Cannot open '{url}': {_why(exc)}", path=url
        ) from None
    if not found:
        raise VpcParseError(
            f"Cannot open '{url}': No such object or prefix", path=url
        )


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
class S3ObjectReader(io.RawIOBase):
    """A read-only stream over one object, fetched in ranged GETs.

    ``size`` (from the listing) saves a request and tells where the
    object ends; without it, a short block marks the end.  Reads may
    return fewer bytes than asked (one block at most), as raw streams do.
    """

    def __init__(
        self,
        url: str,
        *,
        size: int | None = None,
        config: S3Config | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.config = config or _config
        bucket, key = split_url(url)
        self._path = f"{bucket}/{key}"
        self.size = size
        self._fs = filesystem(self.config)
        self._pos = 0  # next byte to fetch
        self._block = b""
        self._off = 0
        self._eof = size == 0

    def readable(self) -> bool:
        return True

    def _fetch(self) -> bool:
        """Fetch the next block; return False at the end of the object."""
        if self._eof:
            return False
        want = self.config.block_size
        end = self._pos + want
        if self.size is not None:
            end = min(end, self.size)
        start = self._pos

        def call() -> bytes:
            _counters.gets += 1
            try:
                return bytes(
                    self._fs.cat_file(self._path, start=start, end=end)
                )
            except OSError as exc:
                # 416: the object is empty, or shorter than a size we
                # were not told
                if exc.errno == errno.EINVAL and "range" in str(exc).lower():
                    return b""
                raise

        data = call_with_retries(call, config=self.config)
        _counters.bytes += len(data)
        self._pos += len(data)
        self._block, self._off = data, 0
        if self.size is not None:
            if len(data) < end - start:
                raise S3ReadError(
                    errno.EIO,
                    f"Object is shorter than listed ({self._pos} of "
                    f"{self.size} bytes): it changed while being read",
                )
            self._eof = self._pos >= self.size
        elif len(data) < want:
            self._eof = True
        return bool(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._block[self._off :]]
            self._block, self._off = b"", 0
            while self._fetch():
                parts.append(self._block)
            self._block, self._off = b"", 0
            return b"".join(parts)
        if self._off >= len(self._block) and not self._fetch():
            return b""
        out = self._block[self._off : self._off + size]
        self._off += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_object(
    url: str, *, size: int | None = None, config: S3Config | None = None
) -> S3ObjectReader:
    """Open ``url`` for streaming reads (nothing is fetched yet)."""
    return S3ObjectReader(url, size=size, config=config)


# ---------------------------------------------------------------------------
# Failed-object lists
# ---------------------------------------------------------------------------
def write_failed_list(path: str, sources: list[str]) -> None:
    """Write the inputs that could not be read, one per line (atomic).

    The file can be given back to the command (``$(cat FILE)``) to retry
    just those.

    Raises:
        OSError: the file cannot be written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.tmp"
    )
    with open(tmp, "w", encoding="utf-8") as fp:
        fp.writelines(f"{s}\n" for s in sources)
    os.replace(tmp, path)
