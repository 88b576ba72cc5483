"""The plain-text part of an email whose request gave only ``html``."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Tags that stand as paragraphs: a blank line before and after.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "div", "dl", "footer", "form", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section",
    "table", "ul",
})  # fmt: skip
#: Tags that start a new line.
_LINES = frozenset({"br", "dd", "dt", "li", "tr"})
#: Tags whose content is not text.
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})
_PRE_SPACE, _PRE_BREAK = "\ue000", "\ue001"  # private-use characters
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.pre = 0  #: inside ``<pre>``, where line breaks are kept
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.pre += tag == "pre"
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n- " if tag == "li" else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        self.pre = max(0, self.pre - (tag == "pre"))
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                self.parts.append(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            if self.pre:  # kept as is: its spaces and breaks are shielded from the tidy-up
                self.parts.append(data.replace(" ", _PRE_SPACE).replace("\n", _PRE_BREAK))
            else:
                self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of ``html``: tags dropped, entities decoded, one line per block (``<p>``,
    ``<br>``, ``<li>`` as ``- ``; source line breaks are spaces, except in ``<pre>``), a link's
    absolute URL in brackets after its text, no ``<script>``/``<style>``/``<head>`` content,
    runs of blank lines collapsed to one."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text.replace(_PRE_SPACE, " ").replace(_PRE_BREAK, "\n")
