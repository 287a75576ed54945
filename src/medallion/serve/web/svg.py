"""What both pictures share: XML escaping, number formatting, text width estimates, colours."""

from __future__ import annotations

import re

#: characters XML 1.0 forbids even escaped (an error message may carry them from binary data)
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def esc(value: object) -> str:
    """Text made safe for element content and double-quoted attributes."""
    text = _INVALID_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def num(x: float) -> str:
    """A coordinate with one decimal and no trailing zeros: the same input gives the same bytes."""
    text = f"{x:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate of the rendered width of `text` in a sans-serif font (no font metrics on a
    server): generous, so labels stay inside their boxes."""
    narrow = sum(1 for c in text if c in "iljtf.,:;'|!() ")
    wide = sum(1 for c in text if c in "mwMW@%")
    per = 0.68 if bold else 0.62
    return size * (per * (len(text) - narrow - wide) + 0.32 * narrow + 0.9 * wide)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def fit(text: str, size: float, room: float) -> str:
    """`text`, cut (with an ellipsis) to what `text_width` says fits in `room` pixels."""
    if text_width(text, size) <= room:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + "\N{HORIZONTAL ELLIPSIS}", size) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "\N{HORIZONTAL ELLIPSIS}"


def thousands(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else "\N{EM DASH}" if n is None else str(n)
