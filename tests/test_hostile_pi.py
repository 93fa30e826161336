"""A hostile Pi: an SSH server whose SFTP lists whatever names it likes (names that climb out of the
destination, control characters, case twins, links, endless folders), files that vanish or change size
while they are copied, a service link that drops mid-command; and a destination disk that cannot be
written. Whatever it does, nothing lands outside the destination and nothing unverified is marked."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest
from conftest import PiService_, link, trust_host_key

from rigtui.ops.pi import save
from rigtui.remote import pilink
from rigtui.remote.pilink import PiError, PullReport

MODES = {
    asyncssh.FILEXFER_TYPE_REGULAR: stat.S_IFREG | 0o644,
    asyncssh.FILEXFER_TYPE_DIRECTORY: stat.S_IFDIR | 0o755,
    asyncssh.FILEXFER_TYPE_SYMLINK: stat.S_IFLNK | 0o777,
    asyncssh.FILEXFER_TYPE_FIFO: stat.S_IFIFO | 0o644,
}
FOLDER, LINK, FIFO = asyncssh.FILEXFER_TYPE_DIRECTORY, asyncssh.FILEXFER_TYPE_SYMLINK, asyncssh.FILEXFER_TYPE_FIFO


@dataclass
class Entry:
    data: bytes = b""  # what reading it serves (and what the Pi's sha256sum hashes)
    kind: int = asyncssh.FILEXFER_TYPE_REGULAR
    listed_size: int | None = None  # the size the listing claims (default: len(data))
    gone: bool = False  # listed, but deleted by the time it is opened
    fails_at: int | None = None  # reads from this offset on fail (a bad SD card on the Pi)

    def attrs(self) -> asyncssh.SFTPAttrs:
        size = len(self.data) if self.listed_size is None else self.listed_size
        return asyncssh.SFTPAttrs(type=self.kind, size=size, permissions=MODES[self.kind])


@dataclass
class FakePi:
    """What the hostile Pi shows under its export folder: folder path -> [(name as listed, entry)]."""

    root: bytes
    folders: dict[bytes, list[tuple[bytes, Entry]]] = field(default_factory=dict)

    def add(self, folder: str, name: str | bytes, entry: Entry | None = None) -> None:
        """List `name` in `folder` (relative to the export folder, "" for itself)."""
        raw = name if isinstance(name, bytes) else name.encode()
        entry = entry or Entry(b"bytes of " + raw)
        self.folders.setdefault(self.path(folder), []).append((raw, entry))
        if entry.kind == FOLDER:
            self.folders.setdefault(self.path(folder) + b"/" + raw, [])

    def path(self, folder: str) -> bytes:
        return self.root + (b"/" + folder.encode() if folder else b"")

    def listing(self, folder: bytes) -> Iterator[tuple[bytes, Entry]]:
        if folder not in self.folders:
            raise asyncssh.SFTPNoSuchFile("no such folder")
        yield from self.folders[folder]

    def entry(self, path: bytes) -> Entry | None:
        """What `path` opens: the entry listed as that folder + "/" + name (names may hold "/" and "..")."""
        listed = ((folder + b"/" + name, e) for folder, entries in self.folders.items() for name, e in entries)
        return next((e for at, e in listed if at == path), None)


class EndlessPi(FakePi):
    """A Pi whose folders never end: `deep` holds a file and a folder like itself, forever; `wide` lists
    folders without end."""

    def listing(self, folder: bytes) -> Iterator[tuple[bytes, Entry]]:
        if folder.endswith((b"/deep", b"/d")):
            yield b"f.jpg", Entry(b"a frame")
            yield b"d", Entry(kind=FOLDER)
        elif folder.endswith(b"/wide"):
            n = 0
            while True:
                n += 1
                yield f"n{n:09d}".encode(), Entry(kind=FOLDER)
        elif b"/wide/" in folder:
            yield from ()
        else:
            yield from super().listing(folder)

    def entry(self, path: bytes) -> Entry | None:
        return Entry(b"a frame") if path.endswith(b"/f.jpg") else super().entry(path)


class HostileSFTP(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel, pi: FakePi) -> None:
        super().__init__(chan)
        self.pi = pi

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        for n, (name, entry) in enumerate(self.pi.listing(path)):
            if n % 1000 == 999:
                await asyncio.sleep(0)  # an endless listing must not starve the client in this process
            yield asyncssh.SFTPName(name, attrs=entry.attrs())

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        entry = self.pi.entry(path)
        if entry is None or entry.gone or entry.kind == FOLDER:
            raise asyncssh.SFTPNoSuchFile("no such file")
        return entry

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, Entry)
        if file_obj.fails_at is not None and offset + size > file_obj.fails_at:
            raise asyncssh.SFTPFailure("I/O error")
        return file_obj.data[offset : offset + size]

    def close(self, file_obj: object) -> None:
        pass


@dataclass
class HostilePi:
    fake: FakePi
    port: int  # its sshd
    service_port: int  # the real Pi service it forwards to (for `status`)


class Forwarding(asyncssh.SSHServer):
    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return dest_host == "127.0.0.1"


async def serve_hostile(fake: FakePi, keys: dict[str, Path]) -> asyncssh.SSHAcceptor:
    async def sha256sum(process: asyncssh.SSHServerProcess[str]) -> None:
        """The Pi's `sha256sum -- PATH`, over what its SFTP serves."""
        args = shlex.split(str(process.command))
        entry = fake.entry(args[-1].encode()) if args[:2] == ["sha256sum", "--"] else None
        if entry is None or entry.gone:
            process.stderr.write("sha256sum: no such file\n")
            process.exit(1)
            return
        process.stdout.write(f"{hashlib.sha256(entry.data).hexdigest()}  {args[-1]}\n")
        process.exit(0)

    return await asyncssh.create_server(
        Forwarding,
        "127.0.0.1",
        0,
        server_host_keys=[str(keys["host"])],
        authorized_client_keys=str(keys["authorized"]),
        sftp_factory=lambda chan: HostileSFTP(chan, fake),
        process_factory=sha256sum,
    )


async def start_hostile(fake: FakePi, pi: PiService_, keys: dict[str, Path]) -> tuple[HostilePi, asyncssh.SSHAcceptor]:
    server = await serve_hostile(fake, keys)
    port = server.sockets[0].getsockname()[1]
    trust_host_key(keys, port)
    return HostilePi(fake, port, pi.port), server


def export_root(pi: PiService_) -> bytes:
    """The export folder the Pi's status line names (the hostile SFTP serves its own tree there)."""
    return str(pi.service.settings.export.folder.resolve()).encode()


@pytest.fixture
async def hostile(pi: PiService_, keys: dict[str, Path]) -> AsyncIterator[HostilePi]:
    sshd, server = await start_hostile(FakePi(export_root(pi)), pi, keys)
    yield sshd
    server.close()
    await server.wait_closed()


@pytest.fixture
async def endless(pi: PiService_, keys: dict[str, Path]) -> AsyncIterator[HostilePi]:
    sshd, server = await start_hostile(EndlessPi(export_root(pi)), pi, keys)
    yield sshd
    server.close()
    await server.wait_closed()


async def pull(hostile: HostilePi, keys: dict[str, Path], dest: Path) -> PullReport:
    pi_link = link(keys, hostile.port, hostile.service_port)
    try:
        return await asyncio.wait_for(pi_link.pull(dest), 60)
    finally:
        await pi_link.close()


def files_outside(top: Path, inside: Path) -> dict[str, bytes]:
    """Every file below `top` but not below `inside`, with its bytes (to see nothing changed)."""
    found = {}
    for folder, _, names in os.walk(top):
        for name in names:
            path = Path(folder) / name
            if not path.is_relative_to(inside) and not path.is_symlink():
                found[str(path.relative_to(top))] = path.read_bytes() if path.is_file() else b"(special)"
    return found


# -- 1. names that lead outside the destination, or clash inside it ------------------------------------------
def hostile_names(fake: FakePi, tmp_path: Path) -> int:
    """List good files among names no pull may write; how many names must be refused."""
    for good in ("good.jpg", "Case.jpg", "shot.jpg", ".hidden.jpg"):
        fake.add("", good)
    fake.add("", "sub", Entry(kind=FOLDER))
    fake.add("sub", "inner.jpg")
    fake.add("", ".", Entry(kind=FOLDER))  # what every listing holds: not a name to pull
    fake.add("", "..", Entry(kind=FOLDER))
    fake.add("", ".shot.jpg.part")  # the service's own half-written save: not pulled yet
    refused: list[str | bytes] = [
        "../../escaped.jpg",  # two up from DEST: tmp_path/deep, next to the operator's own file
        "a/../../../escaped.jpg",  # one name that holds a path
        str(tmp_path / "absolute.jpg"),
        "new\nline.jpg",
        "nul\x00.jpg",
        "esc\x1b]0;owned\x07.jpg",
        "del\x7f.jpg",
        "back\\slash.jpg",
        "case.jpg",  # the same file as Case.jpg on exFAT or APFS
        "shot.jpg.sha256",  # would overwrite the mark that says shot.jpg is verified
        "shot.jpg.part",
        "link.jpg",
        "fifo",
        b"latin1-\xe9.jpg",  # not UTF-8
    ]
    kinds = {"link.jpg": LINK, "fifo": FIFO}
    for name in refused:
        fake.add("", name, Entry(b"hostile", kind=kinds.get(str(name), asyncssh.FILEXFER_TYPE_REGULAR)))
    fake.add("", "..hidden", Entry(kind=FOLDER))
    fake.add("..hidden", "x.jpg")  # a folder named like a file, fine: pulled as ..hidden/x.jpg
    fake.add("sub", "../../../up.jpg")  # climbs out from a folder
    fake.add("", "sub/..", Entry(kind=FOLDER))  # a folder whose name climbs out: never walked
    fake.add("sub/..", "evil.jpg")
    return len(refused) + 2


async def test_names_that_lead_outside_or_clash_are_refused_one_by_one(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    refused = hostile_names(hostile.fake, tmp_path)
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "escaped.jpg").write_bytes(b"the operator's own file")
    dest = tmp_path / "deep" / "er" / "dest"
    before = files_outside(tmp_path, dest)

    report = await pull(hostile, keys, dest)

    assert files_outside(tmp_path, dest) == before, "nothing written or overwritten outside DEST"
    pulled = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert pulled == sorted(
        f"{name}{mark}"
        for name in ("..hidden/x.jpg", ".hidden.jpg", "Case.jpg", "good.jpg", "shot.jpg", "sub/inner.jpg")
        for mark in ("", ".sha256")
    )
    assert (dest / "shot.jpg.sha256").read_text() == hashlib.sha256(b"bytes of shot.jpg").hexdigest() + "\n"
    assert (report.pulled, report.skipped) == (6, 0)
    assert len(report.failed) == refused, report.failed
    assert all(line.isprintable() and len(line) < 300 for line in report.failed), report.failed
    assert "'case.jpg': the same file as 'Case.jpg' on a disk that ignores case" in report.failed
    assert "link.jpg: not a regular file or a folder on the Pi; not pulled" in report.failed
    assert "'new\\nline.jpg': empty or has control, format or surrogate characters" in report.failed
    assert "b'latin1-\\xe9.jpg': not a UTF-8 name; not pulled" in report.failed
    again = await pull(hostile, keys, dest)
    assert (again.pulled, again.skipped, len(again.failed)) == (0, 6, refused), "the good ones stay verified"


async def test_cli_pull_from_a_hostile_pi_refuses_each_bad_name_in_one_line(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    from conftest import run_rigtui

    refused = hostile_names(hostile.fake, tmp_path)
    dest = tmp_path / "deep" / "er" / "dest"
    dest.mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[remote]\nknown_hosts = "{keys["known"]}"\n\n[[pis]]\nname = "north"\nhost = "127.0.0.1"\n'
        f'port = {hostile.port}\nuser = "pi"\nservice_port = {hostile.service_port}\n'
        f'identity_file = "{keys["client"]}"\n'
    )
    before = files_outside(tmp_path, dest)
    code, out, err = await run_rigtui(
        "--config", str(config), "pi", "pull", "north", str(dest), env={"XDG_DATA_HOME": str(tmp_path / "data")}
    )
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = out.splitlines()
    assert len([line for line in lines if line.startswith("FAILED ")]) == refused, out
    assert lines[-1] == f"pull: 6 pulled, 0 already here and verified, {refused} failed"
    assert all(line.isprintable() for line in lines)
    assert files_outside(tmp_path, dest) == before, "nothing written or overwritten outside DEST"


async def test_a_different_file_already_under_a_name_is_left_alone(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    """Footage rule 3: never overwrite a different file (the operator's, or a copy edited since)."""
    hostile.fake.add("", "edited.jpg")
    hostile.fake.add("", "copied.jpg")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "edited.jpg").write_bytes(b"the operator's edit")
    (dest / "copied.jpg").write_bytes(b"bytes of copied.jpg")  # the same bytes, copied by hand: no mark yet
    report = await pull(hostile, keys, dest)
    assert report.failed == ["edited.jpg: a different file is already here; left alone"]
    assert (dest / "edited.jpg").read_bytes() == b"the operator's edit" and not (dest / "edited.jpg.sha256").exists()
    assert report.pulled == 1 and (dest / "copied.jpg.sha256").exists(), "the same bytes: checked and marked"


# -- 1. a listing without end ----------------------------------------------------------------------------------
async def test_endless_folders_are_cut_short_saying_so(
    endless: HostilePi, keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pilink, "MAX_NAMES", 500)
    endless.fake.add("", "deep", Entry(kind=FOLDER))
    endless.fake.add("", "wide", Entry(kind=FOLDER))
    dest = tmp_path / "dest"
    report = await pull(endless, keys, dest)
    depth = pilink.MAX_DEPTH
    deepest = "/".join(["deep", *["d"] * (depth - 1)])
    assert report.pulled == depth, "f.jpg in every folder down to the deepest allowed"
    assert (dest / deepest / "f.jpg").read_bytes() == b"a frame"
    assert report.failed == [
        f"{deepest}/d: folders nested deeper than {depth}; not pulled",
        "the Pi listed more than 500 names; the rest is not pulled",
    ]


# -- 2. captures that change on the Pi while they are pulled ------------------------------------------------
async def test_a_capture_that_vanishes_or_changes_size_is_that_files_failure(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    fake = hostile.fake
    megabyte = os.urandom(1 << 20)
    fake.add("", "a_gone.jpg", Entry(megabyte, gone=True))
    fake.add("", "b_shrank.npy", Entry(megabyte[: 300 << 10], listed_size=1 << 20))
    fake.add("", "c_grew.npy", Entry(megabyte + megabyte, listed_size=1 << 20))
    fake.add("", "d_bad_card.npy", Entry(megabyte, fails_at=600 << 10))
    fake.add("", "e_fine.jpg", Entry(megabyte))
    dest = tmp_path / "dest"
    report = await pull(hostile, keys, dest)
    assert report.failed == [
        "a_gone.jpg: vanished on the Pi",
        f"b_shrank.npy: changed size on the Pi while it was copied (ended at {300 << 10} of {1 << 20} bytes)",
        "c_grew.npy: checksum differs after copy; removed",
        "d_bad_card.npy: cannot read it on the Pi (SFTPFailure: I/O error)",
    ]
    assert report.pulled == 1 and (dest / "e_fine.jpg").read_bytes() == megabyte
    for name in ("a_gone.jpg", "b_shrank.npy", "c_grew.npy", "d_bad_card.npy"):
        assert not (dest / name).exists() and not (dest / f"{name}.sha256").exists(), name


# -- 3. a destination that cannot be written ------------------------------------------------------------------
async def test_a_destination_that_cannot_be_written_fails_that_file_and_keeps_the_rest(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    fake = hostile.fake
    for name in ("a_first.jpg", "b_mark.jpg", "c_last.jpg"):
        fake.add("", name)
    fake.add("", "night", Entry(kind=FOLDER))
    fake.add("night", "n.jpg")
    dest = tmp_path / "dest"
    first = await pull(hostile, keys, dest)
    assert (first.pulled, first.failed) == (4, [])
    for name in ("b_mark.jpg", "b_mark.jpg.sha256", "c_last.jpg", "c_last.jpg.sha256", "night/n.jpg.sha256"):
        (dest / name).unlink()
    (dest / "night" / "n.jpg").unlink()
    (dest / "night").rmdir()
    (dest / "night").write_text("a file where the Pi's folder must go")
    (dest / "b_mark.jpg.sha256").mkdir()  # where b_mark.jpg's mark must go: no one can write it, not even root

    report = await pull(hostile, keys, dest)

    assert report.failed == [
        f"b_mark.jpg: not written here (Is a directory: {dest / 'b_mark.jpg.sha256'})",
        f"night/n.jpg: not written here (File exists: {dest / 'night'})",
    ]
    assert (report.pulled, report.skipped) == (1, 1)
    assert (dest / "a_first.jpg").read_bytes() == b"bytes of a_first.jpg", "what was verified is kept"
    assert (dest / "c_last.jpg").read_bytes() == b"bytes of c_last.jpg", "the pull went on after the failures"
    assert not (dest / "b_mark.jpg").exists(), "nothing unverified under a final name"
    assert (dest / "b_mark.jpg.part").read_bytes() == b"bytes of b_mark.jpg", "the copy waits in .part"


async def test_cli_pull_onto_a_disk_that_fills_up_keeps_what_was_verified(
    hostile: HostilePi, keys: dict[str, Path], tmp_path: Path
) -> None:
    """A write limit (RLIMIT_FSIZE, which binds root too) makes the middle file's write fail part way."""
    fake = hostile.fake
    small, big = os.urandom(100 << 10), os.urandom(3 << 20)
    fake.add("", "a.jpg", Entry(small))
    fake.add("", "b.npy", Entry(big))
    fake.add("", "c.jpg", Entry(small))
    dest = tmp_path / "dest"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[remote]\nknown_hosts = "{keys["known"]}"\n\n[[pis]]\nname = "north"\nhost = "127.0.0.1"\n'
        f'port = {hostile.port}\nuser = "pi"\nservice_port = {hostile.service_port}\n'
        f'identity_file = "{keys["client"]}"\n'
    )
    limit = 1 << 20
    start = (
        f"import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "sys.argv = ['rigtui', *sys.argv[1:]]; runpy.run_module('rigtui', run_name='__main__')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        start,
        *("--config", str(config), "pi", "pull", "north", str(dest)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1, err.decode()
    assert "Traceback" not in err.decode()
    assert out.decode().splitlines() == [
        "FAILED b.npy: not written here (File too large)",
        "pull: 2 pulled, 0 already here and verified, 1 failed",
    ]
    assert (dest / "a.jpg").read_bytes() == small and (dest / "c.jpg").read_bytes() == small
    assert not (dest / "b.npy").exists() and not (dest / "b.npy.sha256").exists()
    assert (dest / "b.npy.part").stat().st_size == limit, "the half file is only ever a .part"


# -- 4. a service link that breaks mid-command -----------------------------------------------------------------
class Dropping(asyncssh.SSHServer):
    """An sshd that takes the command, then drops the whole SSH connection."""

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> object:
        async def drop(reader: asyncssh.SSHReader[bytes], writer: asyncssh.SSHWriter[bytes]) -> None:
            await reader.readline()
            writer.channel.get_connection().abort()

        return drop


@pytest.fixture
async def dropping(keys: dict[str, Path]) -> AsyncIterator[int]:
    server = await asyncssh.create_server(
        Dropping, "127.0.0.1", 0, server_host_keys=[str(keys["host"])], authorized_client_keys=str(keys["authorized"])
    )
    port = server.sockets[0].getsockname()[1]
    trust_host_key(keys, port)
    yield port
    server.close()
    await server.wait_closed()


async def test_a_link_that_drops_mid_command_is_one_pi_error(dropping: int, keys: dict[str, Path]) -> None:
    pi_link = link(keys, dropping, 9999)
    try:
        for ask in (lambda: save(pi_link, ["jpg"]), pi_link.fetch_status, lambda: pi_link.frame(32)):
            with pytest.raises(PiError) as failed:
                await ask()
            assert str(failed.value).startswith("pi1: ") and "\n" not in str(failed.value)
            assert "ConnectionLost" in str(failed.value)
    finally:
        await pi_link.close()


async def test_cli_save_through_a_dropping_link_says_so_in_one_line(
    dropping: int, keys: dict[str, Path], tmp_path: Path
) -> None:
    from conftest import run_rigtui

    config = tmp_path / "config.toml"
    config.write_text(
        f'[remote]\nknown_hosts = "{keys["known"]}"\n\n[[pis]]\nname = "north"\nhost = "127.0.0.1"\n'
        f'port = {dropping}\nuser = "pi"\nidentity_file = "{keys["client"]}"\n'
    )
    code, out, err = await run_rigtui(
        "--config", str(config), "pi", "save", "north", env={"XDG_DATA_HOME": str(tmp_path / "data")}
    )
    assert code == 1 and out == ""
    assert err.startswith("rigtui: north: save got no reply (ConnectionLost") and err.count("\n") == 1, err
