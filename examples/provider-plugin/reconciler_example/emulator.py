"""The Example Lists API emulated, for `reconciler emulate`, `apply --sandbox` and the contract tests.

Served under /example/v1 by reconciler's emulator server, which brings auth, faults and the log;
this class only routes and keeps the lists (uploaded files stay on disk).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.multipart import discard, parse_multipart
from reconciler.emulator.tables import open_table
from reconciler.emulator.wire import ApiError, Request, Response


@dataclass
class ExampleList:
    id: str
    name: str
    created_at: str
    file: Path | None = None
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size, "created_at": self.created_at}


class ExampleApi(ProviderApi):
    """The emulated Example Lists API (base URL .../example/v1)."""

    name = "example"
    prefix = "/example/v1"

    def __init__(self, ctx: Context, token: str) -> None:
        super().__init__(ctx, token)
        self.store: dict[str, ExampleList] = {}
        self.route("GET", r"/lists", self.list_all)
        self.route("POST", r"/lists", self.create)
        self.route("GET", r"/lists/([^/]+)", self.get_one)
        self.route("PATCH", r"/lists/([^/]+)", self.patch)
        self.route("DELETE", r"/lists/([^/]+)", self.delete)
        self.route("PUT", r"/lists/([^/]+)/members", self.replace)

    def error(self, status: int, message: str, kind: str = "") -> Response:
        return Response(status, {"error": {"type": kind or "error", "message": message}})

    def _get(self, list_id: str) -> ExampleList:
        with self.lock:
            found = self.store.get(list_id)
        if found is None:
            raise ApiError(404, f"list {list_id} not found", "not_found")
        return found

    def _file(self, req: Request) -> tuple[dict[str, str], Path, int]:
        form = parse_multipart(req.body, req.header("Content-Type"), self.ctx.tmpdir)
        part = form.files.get("file")
        if part is None:
            discard(form)
            raise ApiError(400, "file is required")
        table = open_table(part.path, allow_excel=False)
        if "phone" not in table.header:
            discard(form)
            raise ApiError(400, "the file needs a phone column")
        size = sum(1 for row in table.rows() if row["phone"].strip())
        req.summary.update(rows=size)
        return form.fields, part.path, size

    def list_all(self, req: Request) -> Response:
        return Response(200, {"lists": self.audiences()})

    def get_one(self, req: Request, list_id: str) -> Response:
        return Response(200, self._get(list_id).to_json())

    def create(self, req: Request) -> Response:
        fields, path, size = self._file(req)
        name = fields.get("name", "").strip()
        if not name:
            path.unlink(missing_ok=True)
            raise ApiError(400, "name is required")
        created = dt.datetime.fromtimestamp(self.ctx.now(), dt.UTC).isoformat(timespec="seconds")
        item = ExampleList(f"lst_{self.ctx.hex_id(12)}", name, created, path, size)
        with self.lock:
            self.store[item.id] = item
        return Response(201, item.to_json())

    def replace(self, req: Request, list_id: str) -> Response:
        item = self._get(list_id)
        _, path, size = self._file(req)
        with self.lock:
            old, item.file, item.size = item.file, path, size
        if old is not None:
            old.unlink(missing_ok=True)
        return Response(200, item.to_json())

    def patch(self, req: Request, list_id: str) -> Response:
        item = self._get(list_id)
        name = req.json().get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name is required")
        with self.lock:
            item.name = name.strip()
        return Response(200, item.to_json())

    def delete(self, req: Request, list_id: str) -> Response:
        self.remove(self._get(list_id).id)
        return Response(204, b"")

    # -- inspection and test hooks -------------------------------------------------------------

    def audiences(self) -> list[dict[str, Any]]:
        with self.lock:
            return [item.to_json() for item in self.store.values()]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        with self.lock:
            item = self.store[audience_id]
        if item.file is None:
            return []
        return [row for row in open_table(item.file, allow_excel=False).rows() if row["phone"].strip()]

    def remove(self, audience_id: str) -> None:
        with self.lock:
            item = self.store.pop(audience_id)
        if item.file is not None:
            item.file.unlink(missing_ok=True)
