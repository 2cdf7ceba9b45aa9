"""The plan's pull-request comment: one comment, found by a hidden marker and updated in place.

Only comments written by a bot (GitHub Actions' token) carry the marker we look for, so a person
quoting the marker is never edited. A body over GitHub's limit is trimmed with a note; a fork's
read-only token (403) or any other refusal is reported, never fatal: the plan is in the job summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

MARKER = "<!-- reconciler-plan -->"
COMMENT_LIMIT = 65_536  # characters GitHub accepts in a comment body
TRIMMED = "\n\n_Plan truncated to fit a comment: see the job summary or the workflow's artifacts._\n"
TOO_LONG = (
    "The plan is too long for a pull-request comment: see the job summary of this workflow run.\n"
)
PER_PAGE = 100


def comment_body(markdown: str) -> str:
    """The marker and the plan, trimmed (with a note) to GitHub's comment limit."""
    body = f"{MARKER}\n{markdown}"
    if len(body) > COMMENT_LIMIT:
        body = body[: COMMENT_LIMIT - len(TRIMMED)] + TRIMMED
    return body


@dataclass(frozen=True)
class CommentResult:
    """What happened to the comment: 'created', 'updated' or 'failed' (with GitHub's message)."""

    action: str
    comment_id: int | None = None
    url: str | None = None
    message: str = ""


class GitHub:
    """The few REST calls the action makes, for one repository (`owner/name`)."""

    def __init__(
        self, api_url: str, repository: str, token: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.repository = repository
        self.client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "reconciler-action",
            },
            timeout=30.0,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def comments(self, issue: int) -> list[dict[str, Any]]:
        """Every comment of the pull request, oldest first (all pages)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.client.get(
                f"/repos/{self.repository}/issues/{issue}/comments",
                params={"per_page": PER_PAGE, "page": page},
            )
            response.raise_for_status()
            batch = response.json()
            found += batch
            if len(batch) < PER_PAGE:
                return found
            page += 1

    def create(self, issue: int, body: str) -> httpx.Response:
        return self.client.post(f"/repos/{self.repository}/issues/{issue}/comments", json={"body": body})

    def update(self, comment_id: int, body: str) -> httpx.Response:
        url = f"/repos/{self.repository}/issues/comments/{comment_id}"
        return self.client.patch(url, json={"body": body})


def find_comment(comments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The bot comment carrying the marker, if any."""
    for comment in comments:
        user = comment.get("user") or {}
        if user.get("type") == "Bot" and MARKER in (comment.get("body") or ""):
            return comment
    return None


def upsert_comment(github: GitHub, issue: int, markdown: str) -> CommentResult:
    """Create the plan comment, or update the existing one in place."""
    body = comment_body(markdown)
    try:
        previous = find_comment(github.comments(issue))
        response = github.update(previous["id"], body) if previous else github.create(issue, body)
        if response.status_code == 422 and _too_long(response):
            # GitHub counted more than we did (its limit is not documented exactly): a short note
            short = f"{MARKER}\n{TOO_LONG}"
            response = github.update(previous["id"], short) if previous else github.create(issue, short)
    except httpx.HTTPStatusError as exc:
        return CommentResult("failed", message=_message(exc.response))
    except httpx.HTTPError as exc:
        return CommentResult("failed", message=f"{type(exc).__name__} talking to GitHub")
    if response.is_error:
        return CommentResult("failed", message=_message(response))
    made = response.json()
    return CommentResult("updated" if previous else "created", made.get("id"), made.get("html_url"))


def _too_long(response: httpx.Response) -> bool:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return any("too long" in str(error.get("message", "")) for error in errors if isinstance(error, dict))


def _message(response: httpx.Response) -> str:
    """GitHub's own words for a refusal (never the request, which carries the token)."""
    try:
        text = str(response.json().get("message", ""))
    except ValueError:
        text = ""
    hint = ""
    if response.status_code == 403:
        hint = (
            " (a pull request from a fork gets a read-only token: the plan is in the job summary; "
            "see examples/github/plan.yml to comment from a workflow_run)"
        )
    return f"HTTP {response.status_code} {text}".rstrip() + hint
