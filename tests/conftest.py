"""Shared fixtures: simulated rigs on real loopback sockets, and GoPro's published spec."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from rigtui.sim.camera import SimTuning
from rigtui.sim.rig import SimRig, SimRigOptions
from rigtui.sim.server import CameraServer

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = Path(
    os.environ.get("RIGTUI_OPENAPI_SPEC") or REPO.parent / "shared" / "reference" / "opengopro-openapi.json"
)


def url(server: CameraServer, path: str) -> str:
    return f"http://{server.host}:{server.port}{path}"


def cameras_of(rig: SimRig) -> list[str]:
    """`--camera HOST:PORT` for every camera of a simulated rig."""
    args = []
    for server in rig.servers:
        args += ["--camera", f"{server.host}:{server.port}"]
    return args


async def run_rigtui(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """`rigtui ARGS` in its own process (no terminal): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rigtui",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def make_options(**overrides: object) -> SimRigOptions:
    """A small, quiet rig: free ports, no mDNS, small media files, one camera per model."""
    values: dict[str, object] = {
        "cameras": 4,
        "port": 0,
        "mdns": False,
        "tuning": SimTuning(media_bytes_per_second=64 * 1024, busy_pulse_s=0.4, start_delay_s=0.05),
    }
    values.update(overrides)
    return SimRigOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[SimRig]:
    """A running simulated rig; `@pytest.mark.rig(cameras=..., ...)` overrides the options."""
    marker = request.node.get_closest_marker("rig")
    async with SimRig(make_options(**(marker.kwargs if marker else {}))) as sim:
        yield sim


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def spec() -> dict[str, object]:
    if not SPEC_PATH.is_file():
        pytest.skip(f"GoPro's OpenAPI spec is not at {SPEC_PATH} (set RIGTUI_OPENAPI_SPEC to check conformance)")
    return json.loads(SPEC_PATH.read_text())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rig(**options): options of the simulated rig fixture")
