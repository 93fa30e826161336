"""What the operator chose in the TUI: the prime camera and nicknames.

Kept in a small TOML file in the user's data folder, written atomically with tomli-w; the user's
own config.toml is never rewritten. A damaged file is set aside (renamed `.damaged-...`, for the
operator to look at), never a reason to stop, and never silently overwritten.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from rigtui.files import set_aside, write_atomically
from rigtui.paths import data_dir

log = logging.getLogger(__name__)


@dataclass
class UserState:
    prime: str = ""
    nicknames: dict[str, str] = field(default_factory=dict)  # camera key -> nickname
    path: Path = field(default_factory=lambda: data_dir() / "state.toml")

    @classmethod
    def load(cls, path: Path | None = None) -> UserState:
        path = path or data_dir() / "state.toml"
        try:
            prime, nicknames = _checked(tomllib.loads(path.read_text(encoding="utf-8")))
            return cls(prime, nicknames, path)
        except FileNotFoundError:
            return cls(path=path)
        # decoding and TOML errors are ValueErrors; deep nesting can raise RecursionError
        except (IsADirectoryError, ValueError, TypeError, RecursionError) as exc:
            why = str(exc)
        except OSError as exc:  # unreadable (permissions, I/O): not damage, so left where it is
            log.warning("cannot read the state file %s (%s): using defaults", path, exc.strerror or exc)
            return cls(path=path)
        set_aside(path, "state file", why, ": using defaults")
        return cls(path=path)

    def save(self) -> None:
        write_atomically(self.path, tomli_w.dumps({"prime": self.prime, "nicknames": self.nicknames}).encode())


def _checked(data: dict[str, object]) -> tuple[str, dict[str, str]]:
    """Prime and nicknames, if the file holds what `save` writes; TypeError or ValueError says what not."""
    unknown = set(data) - {"prime", "nicknames"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    prime, nicknames = data.get("prime", ""), data.get("nicknames", {})
    if not isinstance(prime, str):
        raise TypeError("prime is not a string")
    if not isinstance(nicknames, dict) or not all(isinstance(v, str) for v in nicknames.values()):
        raise TypeError("nicknames is not a table of strings")
    return prime, nicknames
