"""What the operator chose in the TUI (the prime camera, nicknames) and what rigtui must keep the
same from run to run (each camera's index in the photogrammetry layout).

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
    indexes: dict[str, int] = field(default_factory=dict)  # camera label -> its photogrammetry index
    path: Path = field(default_factory=lambda: data_dir() / "state.toml")

    @classmethod
    def load(cls, path: Path | None = None) -> UserState:
        path = path or data_dir() / "state.toml"
        try:
            prime, nicknames, indexes = _checked(tomllib.loads(path.read_text(encoding="utf-8")))
            return cls(prime, nicknames, indexes, path)
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
        data = {"prime": self.prime, "nicknames": self.nicknames, "indexes": self.indexes}
        write_atomically(self.path, tomli_w.dumps(data).encode())


def _checked(data: dict[str, object]) -> tuple[str, dict[str, str], dict[str, int]]:
    """Prime, nicknames and indexes, if the file holds what `save` writes; TypeError or ValueError
    says what not."""
    unknown = set(data) - {"prime", "nicknames", "indexes"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    prime, nicknames, indexes = data.get("prime", ""), data.get("nicknames", {}), data.get("indexes", {})
    if not isinstance(prime, str):
        raise TypeError("prime is not a string")
    if not isinstance(nicknames, dict) or not all(isinstance(v, str) for v in nicknames.values()):
        raise TypeError("nicknames is not a table of strings")
    if not isinstance(indexes, dict) or not all(type(v) is int and 1 <= v <= 999 for v in indexes.values()):
        raise TypeError("indexes is not a table of numbers from 1 to 999")
    return prime, nicknames, indexes
