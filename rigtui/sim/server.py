"""One simulated camera's HTTP server: the Open GoPro endpoints a rig uses, faults, and `/_sim/`.

Every request is stamped with `time.time_ns()` the moment its bytes arrive, before aiohttp parses
it: start-skew measurements read those stamps, and a stamp taken after parsing or queueing would
measure the simulator instead of the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rigtui.gopro.protocol import QUERY_ORDER
from rigtui.sim.camera import SimCamera
from rigtui.sim.faults import FAULT_KINDS, FaultError, parse_fault

REQUEST_LOG_SIZE = 20_000
CHUNK = 512 * 1024
STALL_HOLD_S = 300.0  # a stalled download holds the connection this long unless the client leaves

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ParseBatcher:
    """Defers parsing while requests arrive in a burst.

    All simulated cameras share one event loop; handling one request takes long enough that
    requests arriving meanwhile would be stamped late. A request arriving alone is parsed on the
    next loop turn. In a burst (arrivals less than BURST_DETECT_S apart: back-to-back writes, not one
    client's request after another's reply) parsing waits until arrivals have been quiet for
    BURST_QUIET_S (at most BURST_MAX_S after the burst began), so the loop does nothing but stamp.
    """

    BURST_DETECT_S = 0.0002
    BURST_QUIET_S = 0.001
    BURST_MAX_S = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[_StampingHandler, bytes, int]] = []
        self.last_arrival = 0.0
        self.burst_started = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.soon: asyncio.Handle | None = None

    def add(self, handler: _StampingHandler, data: bytes, stamp: int) -> None:
        now = self.loop.time()
        self.pending.append((handler, data, stamp))
        in_burst = now - self.last_arrival < self.BURST_DETECT_S
        self.last_arrival = now
        if not in_burst:
            self.burst_started = now
            if self.soon is None and self.timer is None:
                self.soon = self.loop.call_soon(self.flush)
            return
        if self.soon is not None:
            self.soon.cancel()
            self.soon = None
        if self.timer is not None:
            self.timer.cancel()
        when = min(now + self.BURST_QUIET_S, self.burst_started + self.BURST_MAX_S)
        self.timer = self.loop.call_at(when, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.soon = None
        pending, self.pending = self.pending, []
        for handler, data, stamp in pending:
            handler.parse(data, stamp)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ParseBatcher] = weakref.WeakKeyDictionary()


def _batcher() -> _ParseBatcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _ParseBatcher(loop)
    return batcher


class _StampingHandler(RequestHandler):
    """Stamps arrival before parsing; parsing goes through the loop's _ParseBatcher."""

    def __init__(self, owner: CameraServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.arrivals: deque[int] = deque()
        self._first_byte_ns: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.owner.connections.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.owner.connections.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        _batcher().add(self, data, time.time_ns())

    def parse(self, data: bytes, stamp: int) -> None:
        if self.transport is None:  # the client left before its bytes were parsed
            return
        if self._first_byte_ns is None:
            self._first_byte_ns = stamp
        before = self._request_count
        super().data_received(data)
        completed = self._request_count - before
        if completed:
            # Every request completed by this chunk began with the first unconsumed chunk.
            self.arrivals.extend([self._first_byte_ns] * completed)
            self._first_byte_ns = None

    def take_arrival(self) -> int:
        return self.arrivals.popleft() if self.arrivals else time.time_ns()


class _Fault:
    def __init__(self, value: float | None, times: int | None) -> None:
        self.value = value
        self.times = times


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data, separators=(",", ":")), content_type="application/json")


def _empty() -> web.Response:
    return _json({})


def _int_arg(request: web.Request, name: str) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"missing {name}"}), content_type="application/json")
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"bad {name}"}), content_type="application/json") from None


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end inclusive), None to ignore the header, or "unsatisfiable"."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


class CameraServer:
    """The HTTP face of a SimCamera on host:port."""

    def __init__(self, camera: SimCamera, host: str, port: int, *, throttle_mbps: float | None = None) -> None:
        self.camera = camera
        self.host = host
        self.port = port
        self.throttle_mbps = throttle_mbps
        self.faults: dict[str, _Fault] = {}
        self.requests: deque[dict[str, object]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.connections: set[_StampingHandler] = set()
        self.asleep = False
        self._link_free_at = 0.0
        self._server: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._hold_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], handler_args={"access_log": None})
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        server = self._runner.server
        self._server = await loop.create_server(
            lambda: _StampingHandler(self, server, loop=loop, **server._kwargs),
            self.host,
            self.port,
            reuse_address=True,
            backlog=256,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _drop_link(self) -> None:
        """Stop listening and cut every connection, as a USB link reset does."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()

    def link_down(self, seconds: float) -> None:
        self._drop_link()
        if self._restart is not None:
            self._restart.cancel()
        self._restart = asyncio.get_running_loop().call_later(seconds, self._relisten)

    def _relisten(self) -> None:
        self._restart = None
        if not self.asleep:
            self._hold(self._listen())

    def sleep(self) -> None:
        """Asleep: nothing answers until the camera is woken (over USB that never happens)."""
        self.asleep = True
        self._drop_link()

    async def wake(self) -> None:
        self.asleep = False
        if self._server is None:
            await self._listen()

    async def stop(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
        self._drop_link()
        for task in list(self._hold_tasks):
            task.cancel()
        await self.camera.settle()
        if self._runner is not None:
            await self._runner.cleanup()

    def _hold(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._hold_tasks.add(task)
        task.add_done_callback(self._hold_tasks.discard)

    @property
    def listening(self) -> bool:
        return self._server is not None

    # -- faults ---------------------------------------------------------------------------------
    def set_fault(self, kind: str, value: float | None, times: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault {kind!r}")
        if kind == "link-down":
            asyncio.get_running_loop().call_later(0.05, self.link_down, value or 5.0)
            return
        self.faults[kind] = _Fault(value, times)

    def clear_fault(self, kind: str) -> None:
        if kind == "all":
            self.faults.clear()
        else:
            self.faults.pop(kind, None)

    def _trigger(self, kind: str) -> _Fault | None:
        """The fault if active (counting down faults that apply a limited number of times)."""
        fault = self.faults.get(kind)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[kind]
        return fault

    # -- middleware -----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        protocol = request.protocol
        t_ns = protocol.take_arrival() if isinstance(protocol, _StampingHandler) else time.time_ns()
        if request.path.startswith("/_sim/"):
            return await handler(request)
        self.requests.append(
            {"method": request.method, "path": request.path, "query": request.query_string, "t_ns": t_ns}
        )
        if "Host" not in request.headers:
            return web.Response(status=403, text="Error 403: Forbidden\nConnection forbidden")
        latency = self.faults.get("latency")
        if latency is not None and latency.value:
            await asyncio.sleep(latency.value / 1000)
        expected = QUERY_ORDER.get(request.path)
        if expected is not None:
            keys = list(request.query.keys())
            if keys != [k for k in expected if k in keys]:
                return _json({"error": f"query parameters must come in the order {', '.join(expected)}"}, 400)
        self.camera.advance()
        return await handler(request)

    def _malformed(self, data: object) -> web.Response:
        text = json.dumps(data)
        return web.Response(body=text[: max(1, len(text) // 2)], content_type="application/json")

    def _reply(self, data: object) -> web.Response:
        return self._malformed(data) if "malformed" in self.faults else _json(data)

    # -- routes ---------------------------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        cam = self.camera
        simple: dict[str, Callable[[], object]] = {
            "/gopro/version": lambda: {"version": "2.0"},
            "/gopro/camera/keep_alive": lambda: {},
            "/gopro/camera/analytics/set_client_info": lambda: setattr(cam, "client_info", True),
        }
        for path, action in simple.items():
            app.router.add_get(path, self._simple(action))
        r = app.router
        r.add_get("/gopro/camera/state", self._simple(cam.state, malformable=True))
        r.add_get("/gopro/camera/info", self.info)
        r.add_get("/gopro/camera/control/wired_usb", self.wired_usb)
        r.add_get("/gopro/camera/control/set_ui_controller", self.ui_controller)
        r.add_get("/gopro/camera/shutter/{mode}", self.shutter)
        r.add_get("/gopro/camera/setting", self.setting)
        r.add_get("/gopro/camera/presets/get", self._simple(cam.presets_json))
        r.add_get("/gopro/camera/presets/load", self.preset_load)
        r.add_get("/gopro/camera/presets/set_group", self.preset_group)
        r.add_get("/gopro/camera/set_date_time", self.set_date_time)
        r.add_get("/gopro/camera/get_date_time", self._simple(cam.date_time_json))
        r.add_get("/gopro/media/list", self.media_list)
        r.add_get("/gopro/media/info", self.media_info)
        r.add_get("/gopro/media/last_captured", self.last_captured)
        r.add_get("/gopro/media/thumbnail", self.thumbnail)
        r.add_get("/gopro/media/turbo_transfer", self.turbo)
        r.add_get("/gopro/media/delete/file", self.delete_file)
        r.add_get("/gp/gpControl/command/storage/delete/group", self.delete_group)
        r.add_get("/gp/gpControl/command/storage/delete/all", self.delete_all)
        r.add_get("/gp/gpControl/command/system/sleep", self.sleep_command)
        r.add_get("/videos/DCIM/{directory}/{filename}", self.download)
        for path, handler in {
            "/_sim/requests": self.sim_requests,
            "/_sim/fault": self.sim_fault,
            "/_sim/set": self.sim_set,
            "/_sim/media/add": self.sim_media_add,
            "/_sim/info": self.sim_info,
        }.items():
            r.add_route("GET", path, handler)
            r.add_route("POST", path, handler)

    def _simple(self, action: Callable[[], object], *, malformable: bool = False) -> Handler:
        """A handler replying with what `action` returns ({} for commands that return nothing)."""

        async def handler(_request: web.Request) -> web.StreamResponse:
            result = action()
            body = result if isinstance(result, dict) else {}
            return self._reply(body) if malformable else _json(body)

        return handler

    async def info(self, _request: web.Request) -> web.Response:
        cam = self.camera
        if not cam.info.has_camera_info:
            return _json({}, 501)
        return _json(
            {
                "model_number": str(cam.info.model_number),
                "model_name": cam.info.info_name,
                "firmware_version": cam.info.firmware,
                "serial_number": cam.serial,
                "ap_ssid": f"GP{cam.serial[-8:]}",
                "ap_mac_addr": f"0657{cam.serial[-8:]}",
            }
        )

    async def wired_usb(self, request: web.Request) -> web.Response:
        self.camera.usb_controlled = 1 if _int_arg(request, "p") else 0
        return _empty()

    async def ui_controller(self, request: web.Request) -> web.Response:
        value = _int_arg(request, "p")
        if value not in (0, 2):
            return _json({"error": "p must be 0 or 2"}, 400)
        self.camera.control_owner = value
        return _empty()

    async def shutter(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        if mode == "stop":
            self.camera.shutter_stop()
            return _empty()
        if mode != "start":
            raise web.HTTPNotFound()
        if self._trigger("shutter-500"):
            return _json({}, 500)
        if not self.camera.shutter_start():
            return _json({"error": "storage not ready"}, 500)
        reset = self._trigger("reset-on-record")
        if reset is not None:
            # The brown-out cuts the link before the reply leaves; the camera records on.
            self.link_down(reset.value or 3.0)
        return _empty()

    async def setting(self, request: web.Request) -> web.Response:
        setting_id = _int_arg(request, "setting")
        if "option" not in request.query:
            option = self.camera.settings.get(setting_id)
            if option is None:
                return _json({"error": 2, "setting_id": setting_id, "supported_options": []}, 403)
            return _json({"option": option})
        status, body = self.camera.set_setting(setting_id, _int_arg(request, "option"))
        return _json(body, status)

    async def preset_load(self, request: web.Request) -> web.Response:
        ok = self.camera.load_preset(_int_arg(request, "id"))
        return _empty() if ok else _json({"error": "preset not available"}, 403)

    async def preset_group(self, request: web.Request) -> web.Response:
        ok = self.camera.load_group(_int_arg(request, "id"))
        return _empty() if ok else _json({"error": "group not available"}, 403)

    async def set_date_time(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            tzone, dst = int(q.get("tzone", "0")), int(q.get("dst", "0"))
        except ValueError:
            return _json({"error": "bad tzone or dst"}, 400)
        if not self.camera.set_date_time(q.get("date", ""), q.get("time", ""), tzone, dst):
            return _json({"error": "bad date or time"}, 400)
        return _empty()

    async def media_list(self, _request: web.Request) -> web.Response:
        if self.camera.recording_since is not None and self._trigger("media-busy"):
            return _json({"message": "Camera is busy"}, 503)
        listing = self.camera.media.media_list()
        if "hostile-names" in self.faults:
            hostile = [
                {"n": name, "cre": "1700000000", "mod": "1700000000", "s": "1000"}
                for name in ("../../escape.MP4", "/etc/passwd", "GX01\u0000001.MP4")
            ]
            listing["media"] = [*listing["media"], {"d": "100GOPRO", "fs": hostile}, {"d": "../..", "fs": hostile[:1]}]
        return self._reply(listing)

    async def media_info(self, request: web.Request) -> web.Response:
        item = self.camera.media.find(request.query.get("path", ""))
        if item is None:
            return _json({"error": "path not found in media list"}, 400)
        return self._reply(item.info())

    async def last_captured(self, _request: web.Request) -> web.Response:
        if not self.camera.info.has_camera_info:
            return _json({}, 501)
        item = self.camera.last_captured
        if item is None or item.key not in self.camera.media.items:
            return web.Response(status=204)
        return _json({"folder": item.directory, "file": item.name})

    async def thumbnail(self, request: web.Request) -> web.Response:
        from rigtui.sim.media import tiny_jpeg

        if self.camera.media.find(request.query.get("path", "")) is None:
            return _json({"error": "path not found in media list"}, 400)
        return web.Response(body=await asyncio.to_thread(tiny_jpeg), content_type="image/jpeg")

    async def turbo(self, request: web.Request) -> web.Response:
        self.camera.turbo = 1 if _int_arg(request, "p") else 0
        return _empty()

    async def delete_file(self, request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(self.camera.media.delete_file, request.query.get("path", ""))
        return _empty() if ok else _json({"error": "path not found in media list"}, 400)

    async def delete_group(self, request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(self.camera.media.delete_group, request.query.get("p", ""))
        return _empty() if ok else _json({"error": "path not found in media list"}, 400)

    async def delete_all(self, _request: web.Request) -> web.Response:
        await asyncio.to_thread(self.camera.delete_all)
        return _empty()

    async def sleep_command(self, _request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_later(0.05, self.sleep)
        return _empty()

    # -- download -------------------------------------------------------------------------------
    async def download(self, request: web.Request) -> web.StreamResponse:
        path = self.camera.media.path_of(request.match_info["directory"], request.match_info["filename"])
        if path is None:
            raise web.HTTPNotFound()
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        headers = {"Content-Type": "application/octet-stream"}
        if "no-range" not in self.faults:
            headers["Accept-Ranges"] = "bytes"
            wanted = _parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
            if wanted == "unsatisfiable":
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            if isinstance(wanted, tuple):
                start, end, status = wanted[0], wanted[1], 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        short = self._trigger("short") if request.method == "GET" else None
        if short is None:
            headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        if short is not None:
            response.enable_chunked_encoding()
            length = max(0, length - int(short.value or 51200))
        await response.prepare(request)
        stall = self._trigger("stall")
        stall_at = length * (stall.value or 90.0) / 100 if stall is not None else None
        if await self._stream(request, response, path, start, length, stall_at):
            await response.write_eof()
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        path: os.PathLike[str],
        start: int,
        length: int,
        stall_at: float | None,
    ) -> bool:
        """Send the body; False when it stalled and the connection was cut."""
        fd = os.open(path, os.O_RDONLY)
        try:
            sent = 0
            while sent < length:
                count = min(CHUNK, length - sent)
                if stall_at is not None and sent + count > stall_at:
                    count = max(0, int(stall_at) - sent)
                    if count:
                        await response.write(await asyncio.to_thread(os.pread, fd, count, start + sent))
                    await self._hold_until_gone(request)
                    if request.transport is not None:
                        request.transport.abort()
                    return False
                data = await asyncio.to_thread(os.pread, fd, count, start + sent)
                if not data:
                    break
                await self._throttle(len(data))
                await response.write(data)
                sent += len(data)
            return True
        finally:
            os.close(fd)

    async def _throttle(self, nbytes: int) -> None:
        """Share the camera's link bandwidth between its downloads."""
        if not self.throttle_mbps:
            return
        now = time.monotonic()
        self._link_free_at = max(self._link_free_at, now) + nbytes / (self.throttle_mbps * 1e6)
        delay = self._link_free_at - now
        if delay > 0.001:
            await asyncio.sleep(delay)

    @staticmethod
    async def _hold_until_gone(request: web.Request) -> None:
        deadline = time.monotonic() + STALL_HOLD_S
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.2)

    # -- /_sim/ ---------------------------------------------------------------------------------
    async def sim_requests(self, request: web.Request) -> web.Response:
        entries = list(self.requests)
        if request.query.get("clear") == "1":
            self.requests.clear()
        return _json(entries)

    async def sim_fault(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            if "set" in q:
                kind, value = parse_fault(q["set"] + (f"={q['value']}" if "value" in q else ""))
                times = int(q["times"]) if "times" in q else None
                self.set_fault(kind, value, times)
            if "clear" in q:
                self.clear_fault(q["clear"])
        except (FaultError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({k: {"value": f.value, "times": f.times} for k, f in self.faults.items()})

    async def sim_set(self, request: web.Request) -> web.Response:
        cam, q = self.camera, request.query
        try:
            if "battery" in q:
                cam.battery = min(100.0, max(0.0, float(q["battery"])))
            if "usb_power" in q:
                cam.usb_power = q["usb_power"] == "1"
            if "hot" in q:
                cam.forced_hot = q["hot"] == "1"
            if "cold" in q:
                cam.cold = q["cold"] == "1"
            if "sd_state" in q:
                cam.sd_state = int(q["sd_state"])
            if "sd_free_kb" in q:
                cam.sd_used_kb = max(0.0, cam.sd_capacity_kb - float(q["sd_free_kb"]))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return self._reply(cam.state())

    async def sim_media_add(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            cre = int(q["cre"]) if "cre" in q else None
            directory = q.get("dir")
            if directory is not None and not re.fullmatch(r"\d{3}GOPRO", directory):
                raise ValueError("dir must look like 100GOPRO")
            if q.get("kind", "video") == "photo":
                items = [await self.camera.add_photo(cre=cre, directory=directory)]
            else:
                items = await self.camera.add_recording(
                    duration=float(q.get("seconds", "10")),
                    cre=cre,
                    size=int(q["size"]) if "size" in q else None,
                    directory=directory,
                    sparse=q.get("sparse") == "1",
                )
        except (ValueError, KeyError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json([{"path": i.key, "size": i.size, "cre": i.cre} for i in items])

    async def sim_info(self, _request: web.Request) -> web.Response:
        cam = self.camera
        return _json(
            {
                "serial": cam.serial,
                "model": cam.model,
                "host": self.host,
                "port": self.port,
                "media_root": str(cam.media.root),
                "faults": sorted(self.faults),
            }
        )
