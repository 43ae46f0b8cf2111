"""Static files under content-hashed URLs, cached for a year; text responses compressed.

`url_for('static', filename='css/app.css')` yields `/static/css/app.<hash>.css`, where the hash
is taken from the file's content. Such a URL never changes its content, so browsers keep it a
year without asking again (`immutable`), and a changed file gets a new URL. The plain path
(`/static/css/app.css`, from old bookmarks or e-mails) still works, revalidated on every use.

Compression is Flask-Compress (Brotli or gzip, whatever the client accepts) for HTML pages and
static text files alike. The compressed bytes of a static file are kept per content hash, so a
file is compressed once per process, never per request; pages are compressed per response.
Streamed responses (file downloads, progress streams) are left alone.

Pages and other dynamic responses are compressed only for requests the browser marks as coming
from our own pages or from the address bar (`Sec-Fetch-Site: same-origin` / `none`). A page
that carries a secret (the CSRF token, a participant's name) next to text from the URL (a
search term) leaks that secret through its compressed size when another site can make the
browser load it many times (BREACH). Those cross-site loads are sent uncompressed; static
files hold no secrets and are always compressed.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, request
from flask_compress import Compress
from werkzeug.security import safe_join
from werkzeug.wrappers import Response as ResponseBase

# A year: the longest lifetime RFC 9111 caches are asked to honour.
IMMUTABLE = "public, max-age=31536000, immutable"
HASH_LENGTH = 12
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[^./]+)?$")

# Fetch metadata of requests whose pages may be compressed: see the module docstring.
COMPRESS_SITES = frozenset({"same-origin", "none"})

# Text types worth compressing; images, PDFs and spreadsheets are compressed already.
COMPRESSIBLE = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
]


class StaticFiles:
    """Content digests of the files below `root`, computed once per file version."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}
        self._lock = threading.Lock()

    def path(self, filename: str) -> Path | None:
        """The file for `filename` below the root, or None (missing, a folder, or outside)."""
        joined = safe_join(self.root, filename)
        if joined is None:
            return None
        path = Path(joined)
        try:
            return path if path.is_file() else None
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            return None

    def digest(self, filename: str) -> str | None:
        """The first hex digits of the file's SHA-256, or None if there is no such file."""
        path = self.path(filename)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:  # removed since path() looked
            return None
        # Keyed by size and modification time, so an edited file (in development) gets a
        # new digest without a restart, while an unchanged one is hashed only once.
        version = (stat.st_size, stat.st_mtime_ns)
        known = self._digests.get(filename)
        if known is not None and known[0] == version:
            return known[1]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
        with self._lock:
            self._digests[filename] = (version, digest)
        return digest

    def hashed_name(self, filename: str) -> str:
        """`css/app.css` -> `css/app.<digest>.css`; unknown files keep their name."""
        digest = self.digest(filename)
        if digest is None:
            return filename
        folder, _, name = filename.rpartition("/")
        stem, dot, suffix = name.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
        return f"{folder}/{hashed}" if folder else hashed

    def resolve(self, requested: str) -> tuple[str, bool] | None:
        """The file a request path names, and whether its hash matches the current content."""
        if self.path(requested) is not None:
            return requested, False
        match = _HASHED.match(requested)
        if match is None:
            return None
        original = match["stem"] + (match["suffix"] or "")
        digest = self.digest(original)
        if digest is None:
            return None
        # An outdated hash (a page rendered before a deploy) still gets today's file, but
        # not as immutable: that URL's promised content is gone.
        return original, digest == match["digest"]


class _StaticOnlyCache:
    """Flask-Compress's cache backend: keeps compressed static files, never pages."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        # Keys are "<algorithm>;<_cache_key()>": an empty part means "do not keep".
        if key.partition(";")[2].startswith("static:"):
            self.data[key] = value


def _cache_key(req: Any) -> str:
    """The cache key of a response: static files by content digest, anything else uncached."""
    files: StaticFiles | None = current_app.extensions.get("crm_static_files")
    if req.endpoint == "static" and files is not None:
        resolved = files.resolve((req.view_args or {}).get("filename", ""))
        if resolved is not None:
            return f"static:{resolved[0]}:{files.digest(resolved[0])}"
    return ""


def serve_static(filename: str) -> ResponseBase:
    """The `static` endpoint: hashed names cached a year, plain names revalidated."""
    files: StaticFiles = current_app.extensions["crm_static_files"]
    resolved = files.resolve(filename)
    if resolved is None:
        abort(404)
    original, immutable = resolved
    path = files.path(original)
    assert path is not None
    mimetype = mimetypes.guess_type(original)[0] or "application/octet-stream"
    response = current_app.response_class(path.read_bytes(), mimetype=mimetype)
    response.set_etag(files.digest(original) or "")
    if immutable:
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        max_age = current_app.get_send_file_max_age(original)
        if max_age is None:
            response.cache_control.no_cache = True
        else:
            response.cache_control.public = True
            response.cache_control.max_age = max_age
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    """Hash static URLs, serve them with long-lived caching, and compress text responses."""
    if app.static_folder is None:
        return
    files = StaticFiles(app.static_folder)
    app.extensions["crm_static_files"] = files

    @app.url_defaults
    def hash_static_urls(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = files.hashed_name(values["filename"])

    app.view_functions["static"] = serve_static

    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSIBLE)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    # Flask-Compress's default Brotli quality (4) compresses Bootstrap's CSS worse than gzip;
    # from 5 on it is smaller, while still cheap enough for every page (static files are
    # compressed once per process anyway, see _StaticOnlyCache).
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    # Streams (downloads, progress) would need compressing chunk by chunk: left as they are.
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", _StaticOnlyCache)
    app.config.setdefault("COMPRESS_CACHE_KEY", _cache_key)
    # Registered by hand, so that pages asked for by another site stay uncompressed.
    app.config["COMPRESS_REGISTER"] = False
    compress = Compress(app)
    app.extensions["crm_compress"] = compress

    @app.after_request
    def compress_response(response: Response) -> Response:
        if request.endpoint == "static":
            return compress.after_request(response)
        response.vary.add("Sec-Fetch-Site")
        if request.headers.get("Sec-Fetch-Site") in COMPRESS_SITES:
            return compress.after_request(response)
        response.vary.add("Accept-Encoding")
        return response
