"""Telegram's HTML subset (https://core.telegram.org/bots/api#html-style), checked up front.

Telegram refuses a whole message over one tag it does not know, one left open or one bare
`<` or `&`; petition text is checked when the file is read, so a mistake is one line at
start-up instead of every welcome screen failing later.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Tags Telegram accepts, with the attributes each may carry.
ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "span": frozenset({"class"}),  # class="tg-spoiler" only
    "tg-spoiler": frozenset(),
    "a": frozenset({"href"}),
    "tg-emoji": frozenset({"emoji-id"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
}
# The only named entities Telegram knows; numeric ones are fine.
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
# Something shaped like a tag (allowed or not: the parser below judges it).
_TAG = re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.problem: str | None = None

    def _fail(self, problem: str) -> None:
        self.problem = self.problem or problem

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self._fail(f"<{tag}> is not a tag Telegram allows (b, i, u, s, a, code, pre...)")
            return
        extra = {name for name, _ in attrs} - ALLOWED_TAGS[tag]
        if extra:
            self._fail(f"<{tag}> cannot have {', '.join(sorted(extra))}")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self._fail('<span> needs class="tg-spoiler"')
        if tag == "a" and not dict(attrs).get("href"):
            self._fail("<a> needs an href")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f"<{tag}/>: Telegram has no self-closing tags")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self._fail(f"</{tag}> does not close the tag opened last")
            return
        self.open.pop()

    def handle_comment(self, data: str) -> None:
        self._fail("HTML comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self._fail("declarations are not allowed")


def telegram_html_problem(text: str) -> str | None:
    """What Telegram would refuse in `text` (None: nothing)."""
    for match in re.finditer("&", text):
        if not _ENTITY.match(text, match.start()):
            return "a bare & (write &amp;)"
    if "<" in _TAG.sub("", text):
        return "a bare < (write &lt;)"
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.problem:
        return checker.problem
    if checker.open:
        return f"<{checker.open[-1]}> is never closed"
    return None
