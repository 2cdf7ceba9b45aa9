"""CommBox audiences, as documented: create (POST /audiences), replace (PUT /Audiences/{id}), list.

There is no get-one, delete, rename or member call; those paths answer 404/405. Uploaded files
are kept on disk (not in memory) and parsed again only when a test inspects the members.
Assumptions where the docs are silent: processing is synchronous, names need not be unique,
`+` is accepted in `phone1`, `user_count` counts rows with a non-empty `phone1`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.multipart import Form, discard, parse_multipart
from reconciler.emulator.tables import open_table
from reconciler.emulator.wire import ApiError, Request, Response

PHONE_COLUMN = "phone1"
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests – Rate limit exceeded",
    500: "Server Error",
    503: "Service Unavailable",
}


def response_time() -> str:
    """CommBox's timestamp style: 2025-02-06T07:51:52.2581942Z (seven fractional digits)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class CommboxAudience:
    id: str
    name: str
    created_time: str
    type: str  # "Static" | "Dynamic"
    file: Path | None = None
    user_count: int = 0

    def listing(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "created_time": self.created_time,
            "type": self.type,
        }
        if self.type == "Static":
            item["user_count"] = self.user_count
        return item


class CommboxApi(ProviderApi):
    """The emulated CommBox audiences API (base URL .../commbox)."""

    name = "commbox"
    prefix = "/commbox"

    def sends_retry_after(self, faults: Any) -> bool:
        """CommBox documents no Retry-After; send one only when the faults ask for it."""
        return bool(faults.commbox_retry_after)

    def __init__(self, ctx: Context, token: str) -> None:
        super().__init__(ctx, token)
        self.store: dict[str, CommboxAudience] = {}
        self._next_id = 300000 + ctx.randint(0, 60000)
        self.route("POST", r"/audiences", self.create)
        self.route("GET", r"/audiences", self.list_all)
        self.route("PUT", r"/Audiences/([^/]+)", self.replace)

    def error(self, status: int, message: str, kind: str = "") -> Response:
        description = DESCRIPTIONS.get(status, "Error")
        if message and message not in description and status == 400:
            description = f"{description} - {message}"
        return Response(
            status, {"status": status, "description": description, "response_time": response_time()}
        )

    def _new_id(self) -> str:
        with self.lock:
            self._next_id += self.ctx.randint(1, 9)
            return str(self._next_id)

    def _read_file(self, form: Form) -> tuple[Path, int]:
        part = form.files.get("audience_file")
        if part is None or part.filename is None:
            raise ApiError(400, "audience_file is required")
        table = open_table(part.path)
        if PHONE_COLUMN not in table.header:
            raise ApiError(400, "missing phone1 column")
        count = sum(1 for row in table.rows() if row[PHONE_COLUMN].strip())
        return part.path, count

    def create(self, req: Request) -> Response:
        """POST /audiences: multipart `name` + `audience_file` -> 201 {data: {id}}."""
        form = parse_multipart(req.body, req.header("Content-Type"), self.ctx.tmpdir)
        try:
            name = form.fields.get("name", "").strip()
            if not name:
                raise ApiError(400, "name is required")
            path, count = self._read_file(form)
        except ApiError:
            discard(form)
            raise
        audience = CommboxAudience(self._new_id(), name, response_time()[:19] + "Z", "Static", path, count)
        with self.lock:
            self.store[audience.id] = audience
        req.summary.update(rows=count)
        body = {
            "status": 201,
            "description": "Audience created",
            "response_time": response_time(),
            "data": {"id": audience.id},
        }
        return Response(201, body)

    def replace(self, req: Request, audience_id: str) -> Response:
        """PUT /Audiences/{id}: multipart with only `audience_file`; replaces every member."""
        form = parse_multipart(req.body, req.header("Content-Type"), self.ctx.tmpdir)
        try:
            with self.lock:
                audience = self.store.get(audience_id)
            if audience is None:
                raise ApiError(404, "Not Found")
            if audience.type != "Static":
                raise ApiError(400, "only Static audiences can be updated")
            extra = [n for n in form.names if n != "audience_file"]
            if extra:
                raise ApiError(400, "only audience_file can be updated")
            path, count = self._read_file(form)
        except ApiError:
            discard(form)
            raise
        with self.lock:
            old = audience.file
            audience.file, audience.user_count = path, count
        if old is not None:
            old.unlink(missing_ok=True)
        req.summary.update(rows=count)
        body = {
            "status": 200,
            "description": "Operation successful",
            "response_time": response_time(),
            "data": {"id": audience_id},
        }
        return Response(200, body)

    def list_all(self, req: Request) -> Response:
        """GET /audiences: every audience, no paging; `status` is the STRING "200" here."""
        data = self.audiences()
        req.summary.update(audiences=len(data))
        return Response(
            200,
            {
                "status": "200",
                "description": "Operation successful",
                "response_time": response_time(),
                "data": data,
            },
        )

    # -- inspection and test hooks -------------------------------------------------------------

    def audiences(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a.listing() for a in self.store.values()]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        with self.lock:
            audience = self.store[audience_id]
        if audience.file is None:
            return []
        return [row for row in open_table(audience.file).rows() if row[PHONE_COLUMN].strip()]

    def add_dynamic(self, name: str) -> str:
        """Test hook: a Dynamic audience (a saved filter made in the UI)."""
        audience = CommboxAudience(self._new_id(), name, response_time()[:19] + "Z", "Dynamic")
        with self.lock:
            self.store[audience.id] = audience
        return audience.id

    def remove(self, audience_id: str) -> None:
        with self.lock:
            audience = self.store.pop(audience_id)
        if audience.file is not None:
            audience.file.unlink(missing_ok=True)
