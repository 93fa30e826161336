"""One line on the rig as a whole: who is online, recording, the weakest battery and card."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rigtui.gopro.snapshot import CameraSnapshot


def summarize(snapshots: list[CameraSnapshot], spread_ms: float | None, prime: str, selected: int) -> Text:
    online = [s for s in snapshots if s.online]
    text = Text()
    text.append(f"online {len(online)}/{len(snapshots)}", "bold red" if len(online) < len(snapshots) else "bold")
    recording = sum(s.recording for s in online)
    text.append("  rec ", "")
    text.append(str(recording), "bold red" if recording else "")
    batteries = [s for s in online if s.battery_percent is not None and not s.charging]
    if batteries:
        low = min(batteries, key=lambda s: s.battery_percent or 0)
        text.append(f"  batt {low.battery_percent}%", "bold red" if low.battery_low else "")
    cards = [s for s in online if s.minutes_left is not None]
    if cards:
        low_card = min(cards, key=lambda s: s.minutes_left or 0)
        text.append(f"  sd {low_card.minutes_left} min", "bold red" if low_card.sd_low else "")
    clocks_off = sum(s.clock_off for s in online)
    if clocks_off:
        text.append(f"  clock off {clocks_off}", "bold yellow")
    if spread_ms is not None:
        text.append(f"  spread {spread_ms:.2f} ms")
    if prime:
        text.append(f"  prime {prime[-6:]}")
    if selected:
        text.append(f"  selected {selected}", "bold")
    return text


class SummaryBar(Static):
    DEFAULT_CSS = """
    SummaryBar { height: 1; padding: 0 1; background: $panel; }
    """
