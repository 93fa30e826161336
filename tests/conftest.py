"""Shared fixtures: simulated rigs on real loopback sockets, a Pi service and the Pi's sshd, and GoPro's
published spec."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import httpx
import pytest

from rigtui.pi.backends import SCRIPTS, SyntheticBackend
from rigtui.pi.export import ExportSettings
from rigtui.pi.server import LineServer
from rigtui.pi.service import PiService, PiSettings
from rigtui.remote.pilink import PiEndpoint, PiLink
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


UNSYNCED = SimTuning(media_bytes_per_second=64 * 1024, busy_pulse_s=0.4, start_delay_s=0.05)  # clocks up to 2 min off


def make_options(**overrides: object) -> SimRigOptions:
    """A small, quiet rig: free ports, no mDNS, small media files, one camera per model."""
    values: dict[str, object] = {
        "cameras": 4,
        "port": 0,
        "mdns": False,
        # clocks in step with the host's unless a test is about clocks (`tuning=UNSYNCED`)
        "tuning": SimTuning(media_bytes_per_second=64 * 1024, busy_pulse_s=0.4, start_delay_s=0.05, clock_error_s=0),
    }
    values.update(overrides)
    return SimRigOptions(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def private_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test keeps rigtui's files (ledger, shot log, state, cache, logs) under its own tmp_path:
    never in the user's real folders."""
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "private" / name.lower()))


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


class PiService_:
    """A Pi service on the synthetic backend with its line server (what runs on the Pi)."""

    def __init__(self, folder: Path) -> None:
        backend = SyntheticBackend(64, 48, 20.0, SCRIPTS["day"])
        self.service = PiService(PiSettings(export=ExportSettings(folder=folder, min_free_mb=0)), backend)
        self.server: LineServer | None = None
        self.port = 0

    async def start(self) -> None:
        if self.server is None:
            self.service.start()
        self.server = LineServer(self.service, "127.0.0.1", self.port)
        await self.server.start()
        self.port = self.server.port

    async def restart_server(self) -> None:
        assert self.server is not None
        await self.server.close()
        await asyncio.sleep(0.5)
        await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        await asyncio.to_thread(self.service.stop)


@pytest.fixture
async def pi(tmp_path: Path) -> AsyncIterator[PiService_]:
    svc = PiService_(tmp_path / "pi-home" / "captures")
    await svc.start()
    await asyncio.sleep(0.3)
    yield svc
    await svc.stop()


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A client key, a host key, and a known_hosts file trusting the host key on 127.0.0.1."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    client = asyncssh.generate_private_key("ssh-ed25519")
    host = asyncssh.generate_private_key("ssh-ed25519")
    paths = {
        "client": tmp_path / "id_ed25519",
        "host": tmp_path / "host_key",
        "known": tmp_path / "known_hosts",
        "authorized": tmp_path / "authorized_keys",
    }
    client.write_private_key(str(paths["client"]))
    os.chmod(paths["client"], 0o600)
    host.write_private_key(str(paths["host"]))
    os.chmod(paths["host"], 0o600)
    paths["authorized"].write_text(client.export_public_key().decode())
    paths["known_public"] = tmp_path / "host_key.pub"
    paths["known_public"].write_text(host.export_public_key().decode())
    return paths


class Forwarding(asyncssh.SSHServer):
    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return dest_host == "127.0.0.1"  # the Pi's own loopback, as OpenSSH's direct-tcpip allows


async def run_command(process: asyncssh.SSHServerProcess[str]) -> None:
    """An exec request run by the shell, as OpenSSH does (the pull asks for `sha256sum`)."""
    shell = await asyncio.create_subprocess_shell(
        str(process.command), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await shell.communicate()
    process.stdout.write(out.decode())
    process.stderr.write(err.decode())
    process.exit(shell.returncode or 0)


async def serve_ssh(host_key: str, authorized_keys: str) -> asyncssh.SSHAcceptor:
    """The Pi's sshd on 127.0.0.1 (a free port): forwarding to its loopback, SFTP on its real file
    system, commands."""
    return await asyncssh.create_server(
        Forwarding,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=authorized_keys,
        sftp_factory=True,
        process_factory=run_command,
    )


async def serve_ssh_forever(host_key: str, authorized_keys: str) -> None:
    """`serve_ssh` as the main of a process of its own: prints its port, then serves until killed."""
    server = await serve_ssh(host_key, authorized_keys)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


def trust_host_key(keys: dict[str, Path], port: int) -> None:
    keys["known"].write_text(f"[127.0.0.1]:{port} {keys['known_public'].read_text()}")


def link(keys: dict[str, Path], port: int, service_port: int, **endpoint: object) -> PiLink:
    values: dict[str, object] = {"user": "pi", "identity_file": str(keys["client"]), "service_port": service_port}
    values.update(endpoint)
    return PiLink(
        PiEndpoint("pi1", "127.0.0.1", port, **values),
        stale_after_s=2.0,  # type: ignore[arg-type]
        connect_timeout_s=5.0,
        known_hosts=[str(keys["known"])],
    )


def sparse(path: Path, size: int) -> None:
    """A file of `size` zero bytes that takes no disk space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.truncate(size)


@pytest.fixture(scope="session")
def spec() -> dict[str, object]:
    if not SPEC_PATH.is_file():
        pytest.skip(f"GoPro's OpenAPI spec is not at {SPEC_PATH} (set RIGTUI_OPENAPI_SPEC to check conformance)")
    return json.loads(SPEC_PATH.read_text())


# Tests run in two processes (pytest-xdist). These share what one machine has once: mDNS on
# 127.0.0.1 (a browser would see the other process's cameras), the real cameras' port 8080 on fixed
# loopback addresses (`rigtui sim` and `rigtui demo` defaults), the Pi service's fixed port. They
# run one after another in one process.
SHARED_NETWORK_MODULES = {"test_demo_tmux", "test_sim_cli", "test_rig_cli", "test_field", "test_sim_field"}


def uses_shared_network(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    code = getattr(function, "__code__", None)
    names = set(code.co_names + code.co_varnames) if code else set()
    return item.module.__name__ in SHARED_NETWORK_MODULES or "demo_world" in names  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_shared_network(item):
            item.add_marker(pytest.mark.xdist_group("shared-network"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rig(**options): options of the simulated rig fixture")
