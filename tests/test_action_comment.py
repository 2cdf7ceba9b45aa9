"""The action's pull-request comment against recorded GitHub API answers (httpx.MockTransport):
created, updated in place, too long, and a fork's read-only token."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reconciler.ci.github import (
    COMMENT_LIMIT,
    MARKER,
    TRIMMED,
    GitHub,
    comment_body,
    find_comment,
    upsert_comment,
)

RECORDED = Path(__file__).parent / "fixtures" / "github_api"
TOKEN = "ghs_faketoken0123456789abcdefghijklmnopqrs"
Handler = Callable[[httpx.Request], httpx.Response]


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


class FakeGitHub:
    """Answers like GitHub with the recorded bodies; logs every request."""

    def __init__(self, comments: list[dict[str, Any]], *, writable: bool = True, limit: int = COMMENT_LIMIT):
        self.comments, self.writable, self.limit = comments, writable, limit
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        path = request.url.path
        if request.method == "GET":
            assert path == "/repos/octo-org/audiences/issues/7/comments"
            page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
            return httpx.Response(200, json=self.comments[(page - 1) * per_page : page * per_page])
        if not self.writable:
            return httpx.Response(403, json=recorded("fork_forbidden.json"))
        body = json.loads(request.content)["body"]
        if len(body) > self.limit:
            return httpx.Response(422, json=recorded("too_long.json"))
        if request.method == "POST":
            assert path == "/repos/octo-org/audiences/issues/7/comments"
            return httpx.Response(201, json={**recorded("create_comment.json"), "body": body})
        assert request.method == "PATCH" and path == "/repos/octo-org/audiences/issues/comments/1003"
        return httpx.Response(200, json={**recorded("update_comment.json"), "body": body})

    def writes(self) -> list[tuple[str, str, str]]:
        return [
            (r.method, r.url.path, json.loads(r.content)["body"]) for r in self.requests if r.method != "GET"
        ]


def upsert(fake: FakeGitHub, markdown: str) -> Any:
    github = GitHub("https://api.github.com", "octo-org/audiences", TOKEN, httpx.MockTransport(fake))
    try:
        return upsert_comment(github, 7, markdown)
    finally:
        github.close()


def test_first_plan_creates_the_comment() -> None:
    fake = FakeGitHub([c for c in recorded("list_comments.json") if c["id"] != 1003])
    result = upsert(fake, "## Plan: 3 to create\n")
    assert (result.action, result.comment_id) == ("created", 1004)
    assert result.url == "https://github.com/octo-org/audiences/pull/7#issuecomment-1004"
    assert fake.writes() == [
        ("POST", "/repos/octo-org/audiences/issues/7/comments", f"{MARKER}\n## Plan: 3 to create\n")
    ]


def test_next_plan_updates_the_bot_comment_in_place_never_a_persons() -> None:
    fake = FakeGitHub(recorded("list_comments.json"))
    result = upsert(fake, "## Plan: no changes\n")
    assert (result.action, result.comment_id) == ("updated", 1003)
    assert fake.writes() == [
        ("PATCH", "/repos/octo-org/audiences/issues/comments/1003", f"{MARKER}\n## Plan: no changes\n")
    ]


def test_the_comment_is_found_on_a_later_page() -> None:
    [person, other_bot, ours] = recorded("list_comments.json")
    filler = [{**other_bot, "id": 5000 + i} for i in range(150)]
    fake = FakeGitHub([person, *filler, ours])
    assert upsert(fake, "x").action == "updated"
    pages = [r.url.params["page"] for r in fake.requests if r.method == "GET"]
    assert pages == ["1", "2"]


def test_a_plan_over_the_limit_is_trimmed_with_a_note() -> None:
    fake = FakeGitHub([])
    result = upsert(fake, "| row |\n" * 12_000)
    assert result.action == "created"
    [(_, _, body)] = fake.writes()
    assert len(body) <= COMMENT_LIMIT and body.startswith(f"{MARKER}\n| row |")
    assert body.endswith(TRIMMED) and "Plan truncated to fit a comment" in TRIMMED


def test_when_github_still_finds_it_too_long_a_short_note_replaces_it() -> None:
    """GitHub's own count can differ from ours (422 'Body is too long'): post a pointer instead."""
    fake = FakeGitHub(recorded("list_comments.json"), limit=1000)
    result = upsert(fake, "y" * 5000)
    assert result.action == "updated"
    [first, second] = fake.writes()
    assert len(first[2]) > 1000
    assert second[2].startswith(MARKER) and "too long for a pull-request comment" in second[2]


def test_a_fork_without_permission_is_reported_not_fatal() -> None:
    fake = FakeGitHub(recorded("list_comments.json")[:2], writable=False)
    result = upsert(fake, "## Plan\n")
    assert result.action == "failed"
    assert result.message.startswith("HTTP 403 Resource not accessible by integration")
    assert "fork" in result.message and TOKEN not in result.message


def test_an_unreachable_github_is_reported() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    github = GitHub("https://api.github.com", "octo-org/audiences", TOKEN, httpx.MockTransport(down))
    result = upsert_comment(github, 7, "## Plan\n")
    assert result.action == "failed" and result.message == "ConnectError talking to GitHub"


def test_find_comment_needs_a_bot_and_the_marker() -> None:
    comments = recorded("list_comments.json")
    assert find_comment(comments)["id"] == 1003  # type: ignore[index]
    assert find_comment(comments[:2]) is None


def test_comment_body_leaves_a_fitting_plan_untouched() -> None:
    plan = "p" * (COMMENT_LIMIT - len(MARKER) - 1)
    assert comment_body(plan) == f"{MARKER}\n{plan}"
    assert len(comment_body(plan + "p")) == COMMENT_LIMIT
