"""Whop audiences (api/v1): files, asynchronous audience creation, append, rename, delete.

Statuses advance one step per `polls_per_step` reads of an audience (GET /audiences):
pending -> processing -> syncing -> ready | partial | failed (the outcome is configurable).
`Idempotency-Key` on POST replays the first answer for the same body and refuses another body.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.tables import Table, open_table
from reconciler.emulator.whop_files import UPLOAD_PREFIX, FileStore
from reconciler.emulator.whop_model import (
    Job,
    Outcome,
    WhopAudience,
    check_mapping,
    decode_cursor,
    encode_cursor,
    int_arg,
    parse_version,
)
from reconciler.emulator.wire import ApiError, Request, Response

# /files needs this API version or later (docs.whop.com: direct file uploads)
WHOP_API_VERSION_DATE = "2026-08-21-1"
DEFAULT_WHOP_ACCOUNT = "biz_emulator"  # the account a sandbox run uses
MAX_PAGE = 100
DEFAULT_PAGE = 10
ERROR_TYPES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    503: "service_unavailable",
}


class WhopApi(ProviderApi):
    """The emulated Whop API (base URL .../whop/api/v1)."""

    name = "whop"
    prefix = "/whop/api/v1"
    side_routes = {UPLOAD_PREFIX: "whop-upload"}  # noqa: RUF012
    settings = {"account_id": DEFAULT_WHOP_ACCOUNT}  # noqa: RUF012

    def __init__(self, ctx: Context, token: str, outcome: Outcome = "ready") -> None:
        super().__init__(ctx, token)
        self.files = FileStore(ctx, secrets.token_bytes(32), self.lock)
        self.store: dict[str, WhopAudience] = {}
        self.default_outcome: Outcome = outcome
        self.next_outcomes: list[tuple[Outcome, str | None]] = []
        self._seq = 0
        self._idempotency: dict[str, tuple[str, Response]] = {}
        self.route("POST", r"/files", self.create_file)
        self.route("GET", r"/files/([^/]+)", self.get_file)
        self.route("POST", r"/audiences", self.create)
        self.route("GET", r"/audiences", self.list_page)
        self.route("PATCH", r"/audiences/([^/]+)", self.patch)
        self.route("DELETE", r"/audiences/([^/]+)", self.delete)
        self.route("POST", r"/audiences/([^/]+)/add_people", self.add_people)

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        parser.add_argument(
            "--whop-outcome",
            choices=("ready", "partial", "failed"),
            default="ready",
            help="how Whop audience processing ends",
        )

    def configure(self, options: Mapping[str, Any]) -> None:
        outcome = options.get("whop_outcome")
        if outcome is not None:
            self.default_outcome = outcome

    def error(self, status: int, message: str, kind: str = "invalid_request_error") -> Response:
        kind = ERROR_TYPES.get(status, kind) if status != 400 else kind
        return Response(status, {"error": {"type": kind, "message": message}})

    def throttled(self, retry_after: int, send_header: bool = True) -> Response:
        resp = self.error(429, "Rate limit exceeded, retry later")
        resp.headers.update({"Retry-After": str(retry_after), "retry-after-ms": str(retry_after * 1000)})
        return resp

    # -- files -----------------------------------------------------------------------------------

    def _require_version(self, req: Request) -> None:
        given = req.header("Api-Version-Date")
        if given is None:
            raise ApiError(
                400,
                f"The /files endpoints require an Api-Version-Date header ({WHOP_API_VERSION_DATE} or later)",
            )
        version = parse_version(given)
        if version is None:
            raise ApiError(400, f"Api-Version-Date {given!r} is not a valid API version")
        if version < parse_version(WHOP_API_VERSION_DATE):  # type: ignore[operator]
            raise ApiError(400, f"The /files endpoints require API version {WHOP_API_VERSION_DATE} or later")

    def create_file(self, req: Request) -> Response:
        """POST /files {filename, visibility} -> a pending file with its presigned upload."""
        self._require_version(req)
        body = req.json()
        filename, visibility = body.get("filename"), body.get("visibility", "private")
        if not isinstance(filename, str) or not filename.strip():
            raise ApiError(400, "Missing required parameter: filename")
        if visibility not in ("private", "public"):
            raise ApiError(400, "visibility must be private or public")
        with self.lock:
            return Response(201, self.files.create(filename, visibility))

    def get_file(self, req: Request, file_id: str) -> Response:
        """GET /files/{id}: the file; each read advances its upload_status once bytes arrived."""
        self._require_version(req)
        with self.lock:
            record = self.files.files.get(file_id)
            if record is None:
                raise ApiError(404, f"File {file_id} not found")
            record.poll(self.ctx.polls_per_step)
            return Response(200, record.to_json())

    def upload(self, req: Request, file_id: str) -> Response:
        """The presigned storage PUT (not an API call: no bearer token, no faults)."""
        return self.files.upload(req, file_id)

    def side(self, req: Request, prefix: str) -> Response:
        """The presigned storage URLs under UPLOAD_PREFIX."""
        return self.upload(req, req.path.strip("/").split("/")[0])

    # -- audiences -------------------------------------------------------------------------------

    def _idempotent(
        self, req: Request, action: str, body: dict[str, Any], run: Callable[[], Response]
    ) -> Response:
        key = req.header("Idempotency-Key")
        if key is None:
            return run()
        if not key or len(key) > 255:
            raise ApiError(400, "Idempotency-Key must be 1 to 255 characters")
        fingerprint = hashlib.sha256(f"{action}\n{json.dumps(body, sort_keys=True)}".encode()).hexdigest()
        with self.lock:
            seen = self._idempotency.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise ApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters",
                        "idempotency_error",
                    )
                req.summary.update(replayed=True)
                return Response(seen[1].status, seen[1].body, dict(seen[1].headers))
            resp: Response = run()
            if resp.status < 500:
                self._idempotency[key] = (fingerprint, Response(resp.status, resp.body, dict(resp.headers)))
            return resp

    def _table(self, file_id: Any, mapping: dict[str, str]) -> Table:
        if not isinstance(file_id, str) or not file_id:
            raise ApiError(400, "Missing required parameter: file_id")
        record = self.files.files.get(file_id)
        if record is None:
            raise ApiError(400, f"File {file_id} not found")
        if record.upload_status != "ready" or record.path is None:
            raise ApiError(400, f"File {file_id} is not ready (upload_status {record.upload_status})")
        table = open_table(record.path, allow_excel=False)
        missing = sorted(h for h in mapping.values() if h not in table.header)
        if missing:
            raise ApiError(
                400, f"column_mapping refers to columns missing from the file: {', '.join(missing)}"
            )
        return table

    def _job(self, table: Table, mapping: dict[str, str]) -> Job:
        keys = [mapping[k] for k in ("email", "phone") if k in mapping]
        rows = matched = 0
        for row in table.rows():
            rows += 1
            matched += any(row[k].strip() for k in keys)
        with self.lock:
            outcome, message = (
                self.next_outcomes.pop(0) if self.next_outcomes else (self.default_outcome, None)
            )
        if outcome == "failed" and message is None:
            message = "Processing failed: the ad platform rejected the upload"
        return Job(table.path, rows, matched, outcome, message)

    def create(self, req: Request) -> Response:
        """POST /audiences {account_id, name, column_mapping, file_id} -> 201 pending Audience."""
        body = req.json()

        def run() -> Response:
            account_id, name = body.get("account_id"), body.get("name")
            mapping = body.get("column_mapping")
            for key, value in (("account_id", account_id), ("name", name)):
                if not isinstance(value, str) or not value.strip():
                    raise ApiError(400, f"Missing required parameter: {key}")
            mapping = check_mapping(mapping)
            job = self._job(self._table(body.get("file_id"), mapping), mapping)
            now = int(self.ctx.now())
            with self.lock:
                self._seq += 1
                audience = WhopAudience(
                    f"adaud_{self.ctx.token(14)}",
                    self._seq,
                    str(account_id),
                    str(name),
                    mapping,
                    now,
                    now,
                    job=job,
                )
                audience.total_rows = job.rows
                self.store[audience.id] = audience
            req.summary.update(rows=job.rows)
            return Response(201, audience.to_json())

        return self._idempotent(req, "create", body, run)

    def add_people(self, req: Request, audience_id: str) -> Response:
        """POST /audiences/{id}/add_people {file_id}: append in the background."""
        body = req.json()

        def run() -> Response:
            audience = self._get(audience_id)
            if audience.status not in ("ready", "partial"):
                raise ApiError(409, f"Audience {audience_id} is {audience.status}; wait until it is ready")
            job = self._job(
                self._table(body.get("file_id"), audience.column_mapping), audience.column_mapping
            )
            with self.lock:
                audience.job, audience.polls, audience.status = job, 0, "processing"
                audience.total_rows += job.rows
                audience.error_message = None
                audience.updated_at = int(self.ctx.now())
            req.summary.update(rows=job.rows)
            return Response(200, audience.to_json())

        return self._idempotent(req, f"add_people:{audience_id}", body, run)

    def list_page(self, req: Request) -> Response:
        """GET /audiences?account_id=&audience_id=&first=&after= (cursor paging)."""
        account_id = req.arg("account_id")
        if not account_id:
            raise ApiError(400, "Missing required parameter: account_id")
        first = int_arg(req.arg("first"), DEFAULT_PAGE, "first")
        if not 1 <= first <= MAX_PAGE:
            raise ApiError(400, f"first must be between 1 and {MAX_PAGE}")
        after = decode_cursor(req.arg("after"))
        wanted = req.arg("audience_id")
        with self.lock:
            matching = [
                a
                for a in sorted(self.store.values(), key=lambda a: a.seq)
                if a.account_id == account_id and (not wanted or a.id == wanted) and a.seq > after
            ]
            page = matching[:first]
            for audience in page:
                audience.advance(self.ctx.polls_per_step, int(self.ctx.now()), self._platform_id)
            data = [a.to_json() for a in page]
        end = encode_cursor(page[-1].seq) if page else None
        req.summary.update(audiences=len(data))
        return Response(
            200,
            {
                "data": data,
                "page_info": {
                    "end_cursor": end,
                    "start_cursor": None,
                    "has_next_page": len(matching) > first,
                    "has_previous_page": after > 0,
                },
            },
        )

    def patch(self, req: Request, audience_id: str) -> Response:
        """PATCH /audiences/{id} {name}: rename in place."""
        name = req.json().get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name must be a non-empty string")
        with self.lock:
            audience = self._get(audience_id)
            audience.name, audience.updated_at = name, int(self.ctx.now())
            return Response(200, audience.to_json())

    def delete(self, req: Request, audience_id: str) -> Response:
        """DELETE /audiences/{id} -> {success: true}."""
        with self.lock:
            self._get(audience_id)
            self.remove(audience_id)
        return Response(200, {"success": True})

    def _platform_id(self) -> str:
        return f"fb_{self.ctx.randint(10**14, 10**15 - 1)}"

    def _get(self, audience_id: str) -> WhopAudience:
        audience = self.store.get(audience_id)
        if audience is None:
            raise ApiError(404, f"Audience {audience_id} not found")
        return audience

    # -- inspection and test hooks -------------------------------------------------------------

    def set_next_outcome(self, outcome: Outcome, error_message: str | None = None) -> None:
        """The result of the next audience processing (create or add_people)."""
        if outcome not in ("ready", "partial", "failed"):
            raise ValueError(f"unknown outcome {outcome!r}")
        with self.lock:
            self.next_outcomes.append((outcome, error_message))

    def audiences(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**a.to_json(), "account_id": a.account_id, "column_mapping": dict(a.column_mapping)}
                for a in sorted(self.store.values(), key=lambda a: a.seq)
            ]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        with self.lock:
            audience = self.store[audience_id]
            mapping, files = dict(audience.column_mapping), list(audience.files)
        keys = [mapping[k] for k in ("email", "phone") if k in mapping]
        out: list[dict[str, str]] = []
        for path in files:
            for row in open_table(path, allow_excel=False).rows():
                if any(row[k].strip() for k in keys):
                    out.append({f: row[h] for f, h in mapping.items()})
        return out

    def remove(self, audience_id: str) -> None:
        with self.lock:
            self.store.pop(audience_id)
