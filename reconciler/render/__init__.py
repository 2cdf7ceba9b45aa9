"""Renderings of a plan, all made from its JSON document (`Plan.to_dict()`) so they never disagree.

  text      Terraform-like terminal text (a rich `Text`; colour decided by the console)
  markdown  a pull-request comment: summary table, then one <details> per changing audience
  json      `json.dumps(plan.to_dict(), indent=2, sort_keys=True)`
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from reconciler.errors import UsageError
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

FORMATS: tuple[str, ...] = ("text", "markdown", "json")


def render_json(doc: dict[str, Any]) -> str:
    """The plan document as indented, key-sorted JSON."""
    return json.dumps(doc, indent=2, sort_keys=True)


def render(doc: dict[str, Any], fmt: str) -> Text | str:
    """Render the plan document in `fmt` (one of FORMATS): a `Text` for text, else a string."""
    if fmt == "text":
        return render_text(doc)
    if fmt == "markdown":
        return render_markdown(doc)
    if fmt == "json":
        return render_json(doc)
    raise UsageError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render", "render_json", "render_markdown", "render_text"]
