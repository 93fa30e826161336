"""The Pi link over SSH: asyncssh's in-process server for the quick cases, a real OpenSSH sshd for
the end to end one (started here as root, on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest
from conftest import PiService_, link, serve_ssh, sparse, trust_host_key

from rigtui.remote.pilink import PiError, known_hosts_file


@pytest.fixture
async def sshd(keys: dict[str, Path]) -> AsyncIterator[int]:
    """The Pi's sshd, in this process (the quick cases)."""
    server = await serve_ssh(str(keys["host"]), str(keys["authorized"]))
    port = server.sockets[0].getsockname()[1]
    trust_host_key(keys, port)
    yield port
    server.close()
    await server.wait_closed()


async def test_status_and_save_through_an_ssh_channel(pi: PiService_, sshd: int, keys: dict[str, Path]) -> None:
    pi_link = link(keys, sshd, pi.port)
    try:
        status = await pi_link.fetch_status()
        assert status.backend == "synthetic" and status.ring.frames > 0
        reply = await pi_link.command("save jpg")
        assert reply.startswith("SAVED ") and Path(reply.split()[1]).exists()
        jpeg = await pi_link.frame(32)
        assert jpeg[:2] == b"\xff\xd8"
    finally:
        await pi_link.close()


async def test_an_unknown_host_key_is_refused_unless_opted_in(pi: PiService_, sshd: int, keys: dict[str, Path]) -> None:
    keys["known"].write_text("")  # nobody vouches for this host
    refused = link(keys, sshd, pi.port)
    with pytest.raises(PiError, match="not in known_hosts: refused"):
        await refused.fetch_status()
    trusting = link(keys, sshd, pi.port, accept_new_host_key=True)
    try:
        assert (await trusting.fetch_status()).backend == "synthetic"
    finally:
        await trusting.close()
    assert f"[127.0.0.1]:{sshd} ssh-ed25519" in known_hosts_file().read_text(), "remembered for next time"


async def test_a_wrong_host_key_is_refused(pi: PiService_, sshd: int, keys: dict[str, Path]) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    keys["known"].write_text(f"[127.0.0.1]:{sshd} {other}")
    wrong = link(keys, sshd, pi.port, accept_new_host_key=True)
    with pytest.raises(PiError, match="refused"):
        await wrong.fetch_status()


async def test_the_stream_goes_stale_offline_and_resumes_after_a_service_restart(
    pi: PiService_, sshd: int, keys: dict[str, Path]
) -> None:
    pi_link = link(keys, sshd, pi.port)
    changes = asyncio.Event()
    watcher = asyncio.create_task(pi_link.watch(changes.set))
    try:
        for _ in range(50):
            if pi_link.snapshot().state == "online":
                break
            await asyncio.sleep(0.1)
        assert pi_link.snapshot().state == "online" and pi_link.snapshot().levels
        await pi.restart_server()
        states = set()
        for _ in range(100):
            states.add(pi_link.snapshot().state)
            if "offline" in states and pi_link.snapshot().state == "online":
                break
            await asyncio.sleep(0.1)
        assert "offline" in states and pi_link.snapshot().state == "online", states
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await pi_link.close()


def sha256_of_zeros(size: int) -> str:
    digest, block = hashlib.sha256(), bytes(1 << 20)
    for _ in range(size // len(block)):
        digest.update(block)
    return digest.hexdigest()


async def test_pull_resumes_checks_and_skips_without_stalling_the_event_loop(
    pi: PiService_, sshd: int, keys: dict[str, Path], tmp_path: Path
) -> None:
    captures = pi.service.settings.export.folder
    captures.mkdir(parents=True, exist_ok=True)
    shot = os.urandom(3 << 20)
    (captures / "shot.jpg").write_bytes(shot)
    big = 512 << 20  # hashing it takes a few tenths of a second: a frozen TUI if done on the event loop
    sparse(captures / "night" / "big.npy", big)
    dest = tmp_path / "pulled"
    sparse(dest / "night" / "big.npy", big)  # pulled before and verified
    (dest / "night" / "big.npy.sha256").write_text(await asyncio.to_thread(sha256_of_zeros, big) + "\n")
    (dest / "shot.jpg.part").write_bytes(bytes(1 << 20))  # an interrupted pull, whose bytes went bad since

    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    pi_link = link(keys, sshd, pi.port)
    beat = asyncio.create_task(heartbeat())
    try:
        report = await pi_link.pull(dest)
        beat.cancel()
        assert report.failed == ["shot.jpg: checksum differs after copy; removed"], "resumed, then checked"
        assert report.skipped == 1 and report.pulled == 0 and not (dest / "shot.jpg").exists()
        assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"
        again = await pi_link.pull(dest)
        assert (again.pulled, again.skipped, again.failed) == (1, 1, [])
        assert (dest / "shot.jpg").read_bytes() == shot
        assert (dest / "shot.jpg.sha256").read_text() == hashlib.sha256(shot).hexdigest() + "\n"
        assert not (dest / "shot.jpg.part").exists()
    finally:
        beat.cancel()
        await pi_link.close()


# -- a real OpenSSH server ------------------------------------------------------------------------------
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


@pytest.fixture
def openssh(tmp_path: Path, keys: dict[str, Path]) -> Iterator[dict[str, object]]:
    if SSHD is None or os.geteuid() != 0:
        pytest.skip("the OpenSSH end-to-end test needs sshd and root (CI installs and runs both)")
    port = free_port()
    folder = tmp_path / "sshd"
    folder.mkdir()
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys['host']}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys['authorized']}\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\n"
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    trust_host_key(keys, port)
    state: dict[str, object] = {"port": port}

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL, start_new_session=True
        )
        state["proc"] = proc
        return proc

    state["start"] = start
    start()
    yield state
    proc = state["proc"]
    assert isinstance(proc, subprocess.Popen)
    kill_tree(proc.pid)
    proc.wait(timeout=10)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (sshd serves each connection from a child)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    for child in children.split():
        kill_tree(int(child))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_end_to_end_through_openssh_monitor_save_pull_and_sshd_restart(
    pi: PiService_, openssh: dict[str, object], keys: dict[str, Path], tmp_path: Path
) -> None:
    port = int(openssh["port"])  # type: ignore[call-overload]
    await asyncio.sleep(0.5)
    pi_link = link(keys, port, pi.port, user="root")
    watcher = asyncio.create_task(pi_link.watch(lambda: None))
    try:
        for _ in range(100):
            if pi_link.snapshot().state == "online":
                break
            await asyncio.sleep(0.1)
        assert pi_link.snapshot().state == "online", pi_link.snapshot().error
        reply = await pi_link.command("save png")
        saved = Path(reply.split()[1])
        assert reply.startswith("SAVED ") and saved.exists(), "the save lands on the Pi's disk"
        report = await pi_link.pull(tmp_path / "pulled", bwlimit_kbps=4000)
        assert report.pulled >= 1 and not report.failed
        copy = tmp_path / "pulled" / saved.name
        assert copy.read_bytes() == saved.read_bytes()
        again = await pi_link.pull(tmp_path / "pulled")
        assert again.pulled == 0 and again.skipped == report.pulled, "already pulled and verified"

        from conftest import run_rigtui

        config = tmp_path / "config.toml"
        config.write_text(
            f'[remote]\nknown_hosts = "{keys["known"]}"\n\n[[pis]]\nname = "north"\nhost = "127.0.0.1"\n'
            f'port = {port}\nuser = "root"\nservice_port = {pi.port}\nidentity_file = "{keys["client"]}"\n'
        )
        code, out, err = await run_rigtui(
            "--config",
            str(config),
            "pi",
            "pull",
            "north",
            str(tmp_path / "cli"),
            "--bwlimit",
            "2000",
            env={"XDG_DATA_HOME": str(tmp_path / "data")},
        )
        assert code == 0, err
        assert out.strip() == f"pull: {report.pulled} pulled, 0 already here and verified, 0 failed"
        assert (tmp_path / "cli" / saved.name).read_bytes() == saved.read_bytes()

        proc = openssh["proc"]
        assert isinstance(proc, subprocess.Popen)
        kill_tree(proc.pid)  # sshd and its per-connection children: the Pi's sshd dies
        proc.wait()
        for _ in range(100):
            if pi_link.snapshot().state in ("offline", "stale"):
                break
            await asyncio.sleep(0.1)
        assert pi_link.snapshot().state in ("offline", "stale")
        openssh["start"]()  # type: ignore[operator]
        for _ in range(300):
            if pi_link.snapshot().state == "online":
                break
            await asyncio.sleep(0.1)
        assert pi_link.snapshot().state == "online", f"recovers when sshd is back ({pi_link.snapshot().error})"
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await pi_link.close()


async def test_cli_pi_status_and_save_over_ssh(
    pi: PiService_, sshd: int, keys: dict[str, Path], tmp_path: Path
) -> None:
    import json

    from conftest import run_rigtui

    config = tmp_path / "config.toml"
    config.write_text(
        f'[remote]\nknown_hosts = "{keys["known"]}"\n\n[[pis]]\nname = "pi1"\nhost = "127.0.0.1"\nport = {sshd}\n'
        f'user = "pi"\nservice_port = {pi.port}\nidentity_file = "{keys["client"]}"\n'
    )

    async def rigtui(*args: str) -> tuple[int, str, str]:
        return await run_rigtui("--config", str(config), *args, env={"XDG_DATA_HOME": str(tmp_path / "data")})

    code, out, err = await rigtui("pi", "status", "pi1", "--json")
    assert code == 0, err
    assert json.loads(out)["backend"] == "synthetic"
    code, out, _ = await rigtui("pi", "status", "pi1")
    assert code == 0 and out.startswith("pi1: DAY level ")
    code, out, _ = await rigtui("pi", "save", "pi1", "png")
    assert code == 0 and out.startswith("SAVED ") and out.strip().endswith(".png")
    code, _, err = await rigtui("pi", "status", "nosuchpi.invalid")
    assert code == 1 and err.startswith("rigtui: nosuchpi.invalid: cannot reach nosuchpi.invalid over SSH")
