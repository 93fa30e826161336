"""What the operator chose in the TUI: the prime camera and nicknames.

Kept in a small TOML file in the user's data folder, written atomically with tomli-w; the user's
own config.toml is never rewritten. A damaged file is set aside, never a reason to stop.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

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
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path=path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            log.warning("ignoring unreadable state file %s (%s)", path, exc)
            return cls(path=path)
        nicknames = data.get("nicknames", {})
        return cls(
            prime=str(data.get("prime", "")),
            nicknames={str(k): str(v) for k, v in nicknames.items()} if isinstance(nicknames, dict) else {},
            path=path,
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps({"prime": self.prime, "nicknames": self.nicknames}), encoding="utf-8")
        tmp.replace(self.path)
