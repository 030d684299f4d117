"""Module pages: Markdown rendered on the server (markdown-it-py, CommonMark with tables) and
sanitised (nh3, an allow-list of tags and attributes), so that a page written by a content
author can never bring a script, a style or a foreign frame into the space."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset(
    {
        "h2", "h3", "h4", "p", "br", "hr", "ul", "ol", "li", "strong", "em", "blockquote",
        "code", "pre", "a", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
# No style attributes: the pages' CSP allows no inline styles, and alignment is the theme's.
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"https", "mailto", "tel"})

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_page(text: str) -> str:
    """Markdown to safe HTML: raw HTML in the source is shown as text, then whatever the
    renderer made is cut down to `TAGS` (links keep https, mailto and tel only)."""
    html = _MARKDOWN.render(text)
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    )
