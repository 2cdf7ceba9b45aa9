"""Whop's file uploads: file records, presigned upload URLs (signed, 1 hour) and the storage PUT.

The storage endpoint behaves like S3 presigned URLs: XML error bodies, Content-Length required,
every signed header required, and the Whop `Authorization` header refused.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.emulator.base import Context
from reconciler.emulator.wire import CHUNK, Request, Response

UPLOAD_TTL = 3600  # seconds a presigned upload URL stays valid
UPLOAD_PREFIX = "/whop-upload"
SIGNED_HEADER = "x-amz-meta-upload-token"


@dataclass
class WhopFile:
    """One file record; `path` is set once its bytes were uploaded."""

    id: str
    filename: str
    visibility: str
    content_type: str
    created_at: int
    expires: int
    path: Path | None = None
    byte_size: int | None = None
    upload_status: str = "pending"
    polls: int = 0
    url: str | None = None  # the (signed, private) download link once ready

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.byte_size if self.upload_status == "ready" else None,
            "upload_status": self.upload_status,
            "visibility": self.visibility,
            "url": self.url if self.upload_status == "ready" else None,
            "created_at": self.created_at,
        }

    def poll(self, polls_per_step: int) -> None:
        """One GET of the file: pending -> processing -> ready (failed when empty), once uploaded."""
        if self.path is None or self.upload_status in ("ready", "failed"):
            return
        self.polls += 1
        if self.polls < polls_per_step:
            return
        self.polls = 0
        if self.upload_status == "pending":
            self.upload_status = "processing"
        else:
            self.upload_status = "ready" if self.byte_size else "failed"


def s3_error(status: int, code: str, message: str) -> Response:
    """An S3-style XML error, as a presigned storage URL answers."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status, xml.encode(), {"Content-Type": "application/xml"})


class FileStore:
    """File records and their presigned uploads."""

    def __init__(self, ctx: Context, secret: bytes, lock: threading.RLock) -> None:
        self.ctx = ctx
        self.secret = secret
        self.lock = lock  # the Whop API's lock: file records are shared with audience creation
        self.files: dict[str, WhopFile] = {}

    def _sign(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def create(self, filename: str, visibility: str) -> dict[str, Any]:
        """A new pending file and its one-time upload instructions."""
        now = int(self.ctx.now())
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        record = WhopFile(f"file_{self.ctx.token(14)}", filename, visibility, ctype, now, now + UPLOAD_TTL)
        self.files[record.id] = record
        sig = self._sign(f"{record.id}:{record.expires}")
        url = (
            f"{self.ctx.root_url}{UPLOAD_PREFIX}/{record.id}/{quote(filename)}"
            f"?X-Amz-Expires={UPLOAD_TTL}&expires={record.expires}&signature={sig}"
        )
        headers = {"Content-Type": ctype, SIGNED_HEADER: self._sign(f"header:{record.id}")[:40]}
        return {**record.to_json(), "upload_url": url, "upload_headers": headers}

    def upload(self, req: Request, file_id: str) -> Response:
        """PUT <upload_url>: store the raw bytes, checking signature, expiry and signed headers."""
        record = self.files.get(file_id)
        expires, sig = req.arg("expires") or "", req.arg("signature") or ""
        if record is None or not hmac.compare_digest(sig, self._sign(f"{file_id}:{expires}")):
            return s3_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
            )
        if req.method != "PUT":
            refused = s3_error(
                405, "MethodNotAllowed", "The specified method is not allowed against this resource"
            )
            refused.headers["Allow"] = "PUT"
            return refused
        if not expires.isdigit() or self.ctx.now() > int(expires):
            return s3_error(403, "AccessDenied", "Request has expired")
        if req.header("Authorization") is not None:
            return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        if req.header("Content-Type") != record.content_type:
            return s3_error(403, "SignatureDoesNotMatch", "Content-Type does not match the signed header")
        if req.header(SIGNED_HEADER) != self._sign(f"header:{file_id}")[:40]:
            return s3_error(
                403,
                "AccessDenied",
                f"There were headers present in the request which were not signed"
                f" or a signed header is missing: {SIGNED_HEADER}",
            )
        if req.header("Content-Length") is None:
            return s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if record.upload_status != "pending":
            return s3_error(403, "AccessDenied", "This upload has already been completed")
        with tempfile.NamedTemporaryFile(dir=self.ctx.tmpdir, prefix="whop-", delete=False) as out:
            try:
                while chunk := req.body.read(CHUNK):
                    out.write(chunk)
            except BaseException:
                Path(out.name).unlink(missing_ok=True)
                raise
        with self.lock:
            if record.upload_status != "pending":
                Path(out.name).unlink(missing_ok=True)
                return s3_error(403, "AccessDenied", "This upload has already been completed")
            if record.path is not None:
                record.path.unlink(missing_ok=True)
            record.path, record.byte_size = Path(out.name), req.body.bytes_read
        record.url = (
            f"{self.ctx.root_url}{UPLOAD_PREFIX}/{file_id}/download?signature={self._sign('dl:' + file_id)}"
        )
        req.summary.update(bytes=record.byte_size)
        return Response(200, b"", {"ETag": f'"{self._sign(out.name)[:32]}"'})
