"""Text from outside (a camera, a Pi, a disk) as it may reach an operator's terminal or a file name.

Control characters could move the cursor, retitle the terminal or fake a line of output; format
characters (bidi overrides, zero-width) make a name read as another; lone surrogates cannot even be
printed. They are replaced before any such text is shown, and refused in names that become paths.
"""

from __future__ import annotations

import unicodedata

# Unicode categories: control, format (bidi, zero-width), surrogate, line and paragraph separators.
UNSHOWABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
TEXT_LIMIT = 120
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def unshowable(text: str) -> bool:
    """Whether the text holds a character a terminal would not print as itself."""
    return any(unicodedata.category(c) in UNSHOWABLE for c in text)


def shown(text: str, limit: int = TEXT_LIMIT) -> str:
    """The text as it may be shown: unshowable characters replaced, at most `limit` characters (cut
    short with an ellipsis)."""
    if limit <= 0:
        return ""
    text = "".join(REPLACEMENT if unicodedata.category(c) in UNSHOWABLE else c for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"
