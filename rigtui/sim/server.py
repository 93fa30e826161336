"""One simulated camera's HTTP server: the Open GoPro endpoints a rig uses, faults, and `/_sim/`.

The camera's power lives here too: asleep (Auto Power Down, the sleep command, an empty battery) it
stops listening, as a camera on USB does, until its power button is pressed (`press_power`, reached
over the rig's control server since the camera itself answers nothing).

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
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rigtui.gopro.protocol import QUERY_ORDER
from rigtui.sim.camera import STUCK_MESSAGE, SimCamera
from rigtui.sim.faults import FAULT_KINDS, FaultError, parse_fault

REQUEST_LOG_SIZE = 20_000
CHUNK = 512 * 1024
STALL_HOLD_S = 300.0  # a stalled download holds the connection this long unless the client leaves
BUSY = {"message": "Camera is busy"}  # what real cameras answer (503) while recording (OGP #572)
IN_MENUS = "camera control is the camera's: someone is in its menus"

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


def _queue(free_at: float, now: float, nbytes: int, mbps: float) -> float:
    """When `nbytes` more have passed a link of `mbps` MB/s that is busy until `free_at`."""
    return max(free_at, now) + nbytes / (mbps * 1e6)


@dataclass
class Hub:
    """A USB hub: the downloads of all its cameras share its bandwidth (MB/s; None: unlimited)."""

    number: int
    mbps: float | None = None
    free_at: float = 0.0  # monotonic time by which everything queued so far has passed

    def reserve(self, nbytes: int, now: float) -> float:
        if not self.mbps:
            return now
        self.free_at = _queue(self.free_at, now, nbytes, self.mbps)
        return self.free_at


def json_reply(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data, separators=(",", ":")), content_type="application/json")


def _empty() -> web.Response:
    return json_reply({})


def _unsupported() -> web.Response:
    return json_reply({"error": "Operation not supported on camera model"}, 501)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's reply; aiohttp's plain-text errors (unknown path, wrong method, ...) become JSON
    bodies, as a camera sends them."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        response = json_reply({"error": exc.reason}, exc.status)
        response.headers.update(headers)
        return response


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
    """The HTTP face of a SimCamera on host:port.

    A camera shadowed by another (two serials ending in the same three digits share one USB address)
    has a server that never listens: its card and `/_sim/` control exist, nothing reaches its API.
    """

    def __init__(
        self,
        camera: SimCamera,
        host: str,
        port: int,
        *,
        throttle_mbps: float | None = None,
        hub: Hub | None = None,
        shadowed_by: str | None = None,
    ) -> None:
        self.camera = camera
        self.host = host
        self.port = port
        self.throttle_mbps = throttle_mbps
        self.hub = hub or Hub(1)
        self.shadowed_by = shadowed_by  # serial of the camera answering on this camera's address
        self.faults: dict[str, _Fault] = {}
        self.requests: deque[dict[str, object]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.connections: set[_StampingHandler] = set()
        self._link_free_at = 0.0
        self._server: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._power_timer: asyncio.TimerHandle | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._hold_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], handler_args={"access_log": None})
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._listen()
        self._arm_power_timer()

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        if self.shadowed_by or self._server is not None or self.asleep:
            return
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
        self._hold(self._listen())

    # -- power ----------------------------------------------------------------------------------
    @property
    def asleep(self) -> bool:
        return self.camera.asleep

    def sleep(self) -> None:
        """Asleep: nothing answers until the power button is pressed (over USB nothing wakes it)."""
        self.camera.power_off()
        self._drop_link()
        if self._power_timer is not None:
            self._power_timer.cancel()
            self._power_timer = None

    async def wake(self) -> None:
        """The power button on a sleeping camera: it boots (wired control off until asked again)."""
        if not self.asleep:
            return
        self._boot()
        await self._listen()

    async def press_power(self) -> dict[str, object]:
        """The power button: a sleeping camera boots; an awake one powers down (a moment later, so a
        reply on its own link still leaves). Returns what the camera is now: asleep, boots."""
        if self.asleep:
            await self.wake()
            return self._sim_state()
        self._later(0.05, self.sleep)
        return {**self._sim_state(), "asleep": True}

    def reboot(self) -> None:
        """A crash and reboot: the link drops for a while, a recording is cut (and written), the
        model's default settings and video preset come back."""
        if self.asleep:
            return
        self._boot(factory_settings=True)
        self.link_down(self.camera.tuning.reboot_s)

    def _boot(self, *, factory_settings: bool = False) -> None:
        self.camera.boot(factory_settings=factory_settings)
        self.faults.pop("settings-stuck", None)  # only a power cycle brings the settings controller back
        self._arm_power_timer()

    def _arm_power_timer(self) -> None:
        """Make sure a timer fires no later than the camera's next power-down. Timers that fire
        early (a keep-alive moved the deadline) only look again; so only an earlier deadline re-arms."""
        due = self.camera.power_down_at()
        if due is None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, due - self.camera.clock())
        if self._power_timer is not None:
            if self._power_timer.when() <= when:
                return
            self._power_timer.cancel()
        self._power_timer = loop.call_at(when, self._power_check)

    def _power_check(self) -> None:
        self._power_timer = None
        self.camera.advance()
        due = self.camera.power_down_at()
        if due is not None and due <= self.camera.clock():
            self.sleep()
        else:
            self._arm_power_timer()

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` seconds unless the server stops first."""

        def run() -> None:
            self._timers.discard(handle)
            action()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._timers.add(handle)

    async def stop(self) -> None:
        for timer in [self._restart, self._power_timer, *self._timers]:
            if timer is not None:
                timer.cancel()
        self._timers.clear()
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
            self._later(0.05, lambda: self.link_down(value or 5.0))
            return
        if kind == "reboot":
            self._later(value or 0.0, self.reboot)
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
            return await json_errors(request, handler)
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
                return json_reply({"error": f"query parameters must come in the order {', '.join(expected)}"}, 400)
        self.camera.advance()
        try:
            return await json_errors(request, handler)
        finally:
            if not self.asleep:
                self._arm_power_timer()  # a command may bring the next power-down closer

    def _malformed(self, data: object) -> web.Response:
        text = json.dumps(data)
        return web.Response(body=text[: max(1, len(text) // 2)], content_type="application/json")

    def _reply(self, data: object) -> web.Response:
        return self._malformed(data) if "malformed" in self.faults else json_reply(data)

    def _refusal(self, *, settings: bool = False) -> web.Response | None:
        """Why the camera refuses a command that changes it, or None. `settings`: the command goes
        through the settings controller (set-setting, preset load)."""
        if self.camera.control_owner == 1:
            # 409 Conflict: the request is sound but the camera's state (a user holds control) stands in
            # its way until the client claims control (set_ui_controller?p=2). 403 would read as a setting
            # rejection (it carries supported_options) and 5xx as a camera fault.
            return json_reply({"error": IN_MENUS}, 409)
        if settings and "settings-stuck" in self.faults:
            # Neither GoPro's notes nor its spec give this failure a status: 500, as for other
            # firmware-internal failures (shutter start, hilights).
            return json_reply({"error": STUCK_MESSAGE}, 500)
        return None

    def _busy(self) -> web.Response | None:
        """503 while the camera records or is busy (writing files after a stop, after a setting)."""
        camera = self.camera
        return json_reply(BUSY, 503) if camera.recording_since is not None or camera.busy else None

    # -- routes ---------------------------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        cam = self.camera
        simple: dict[str, Callable[[], object]] = {
            "/gopro/version": lambda: {"version": "2.0"},
            "/gopro/camera/keep_alive": cam.keep_alive,
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
        for path, handler in self.sim_routes().items():
            r.add_route("GET", path, handler)
            r.add_route("POST", path, handler)

    def sim_routes(self) -> dict[str, Handler]:
        """The `/_sim/` control of this camera (served by the camera and by the rig's control server)."""
        return {
            "/_sim/requests": self.sim_requests,
            "/_sim/fault": self.sim_fault,
            "/_sim/set": self.sim_set,
            "/_sim/media/add": self.sim_media_add,
            "/_sim/info": self.sim_info,
            "/_sim/power": self.sim_power,
        }

    def _simple(self, action: Callable[[], object], *, malformable: bool = False) -> Handler:
        """A handler replying with what `action` returns ({} for commands that return nothing)."""

        async def handler(_request: web.Request) -> web.StreamResponse:
            result = action()
            body = result if isinstance(result, dict) else {}
            return self._reply(body) if malformable else json_reply(body)

        return handler

    async def info(self, _request: web.Request) -> web.Response:
        cam = self.camera
        if not cam.info.has_camera_info:
            return _unsupported()
        return json_reply(
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
            return json_reply({"error": "p must be 0 or 2"}, 400)
        self.camera.control_owner = value
        return _empty()

    async def shutter(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        if mode not in ("start", "stop"):
            raise web.HTTPNotFound()
        refused = self._refusal()
        if refused is not None:
            return refused
        cam = self.camera
        if mode == "stop":
            cam.shutter_stop()
            return _empty()
        if self._trigger("shutter-500"):
            return json_reply({}, 500)
        before = cam.recording_since
        if not cam.shutter_start():
            return json_reply({"error": "storage not ready"}, 500)
        started = cam.recording_since
        if started is not None and started != before and (stop := self._trigger("spontaneous-stop")) is not None:

            def stop_by_itself() -> None:
                if cam.recording_since == started:  # the same recording, still running
                    cam.shutter_stop()

            self._later(stop.value or 0.0, stop_by_itself)
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
                return json_reply({"error": 2, "setting_id": setting_id, "supported_options": []}, 403)
            return json_reply({"option": option})
        option = _int_arg(request, "option")
        refused = self._refusal(settings=True)
        if refused is not None:
            return refused
        status, body = self.camera.set_setting(setting_id, option)
        return json_reply(body, status)

    async def preset_load(self, request: web.Request) -> web.Response:
        preset_id = _int_arg(request, "id")
        refused = self._refusal(settings=True)
        if refused is not None:
            return refused
        ok = self.camera.load_preset(preset_id)
        return _empty() if ok else json_reply({"error": "preset not available"}, 403)

    async def preset_group(self, request: web.Request) -> web.Response:
        group = _int_arg(request, "id")
        refused = self._refusal(settings=True)
        if refused is not None:
            return refused
        ok = self.camera.load_group(group)
        return _empty() if ok else json_reply({"error": "group not available"}, 403)

    async def set_date_time(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            tzone, dst = int(q.get("tzone", "0")), int(q.get("dst", "0"))
        except ValueError:
            return json_reply({"error": "bad tzone or dst"}, 400)
        if not self.camera.set_date_time(q.get("date", ""), q.get("time", ""), tzone, dst):
            return json_reply({"error": "bad date or time"}, 400)
        return _empty()

    async def media_list(self, _request: web.Request) -> web.Response:
        busy = self._busy()
        if busy is not None:
            return busy
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
            return json_reply({"error": "path not found in media list"}, 400)
        return self._reply(item.info())

    async def last_captured(self, _request: web.Request) -> web.Response:
        if not self.camera.info.has_camera_info:
            return _unsupported()
        item = self.camera.last_captured
        if item is None or item.key not in self.camera.media.items:
            return web.Response(status=204)
        return json_reply({"folder": item.directory, "file": item.name})

    async def thumbnail(self, request: web.Request) -> web.Response:
        from rigtui.sim.media import tiny_jpeg

        if self.camera.media.find(request.query.get("path", "")) is None:
            return json_reply({"error": "path not found in media list"}, 400)
        return web.Response(body=await asyncio.to_thread(tiny_jpeg), content_type="image/jpeg")

    async def turbo(self, request: web.Request) -> web.Response:
        self.camera.turbo = 1 if _int_arg(request, "p") else 0
        return _empty()

    async def delete_file(self, request: web.Request) -> web.Response:
        refused = self._refusal()
        if refused is not None:
            return refused
        ok = await asyncio.to_thread(self.camera.media.delete_file, request.query.get("path", ""))
        return _empty() if ok else json_reply({"error": "path not found in media list"}, 400)

    async def delete_group(self, request: web.Request) -> web.Response:
        refused = self._refusal()
        if refused is not None:
            return refused
        ok = await asyncio.to_thread(self.camera.media.delete_group, request.query.get("p", ""))
        return _empty() if ok else json_reply({"error": "path not found in media list"}, 400)

    async def delete_all(self, _request: web.Request) -> web.Response:
        refused = self._refusal()
        if refused is not None:
            return refused
        await asyncio.to_thread(self.camera.delete_all)
        return _empty()

    async def sleep_command(self, _request: web.Request) -> web.Response:
        self._later(0.05, self.sleep)
        return _empty()

    # -- download -------------------------------------------------------------------------------
    async def download(self, request: web.Request) -> web.StreamResponse:
        busy = self._busy()
        if busy is not None:
            return busy
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
        """Share the camera's link bandwidth between its downloads, and its hub's between its cameras."""
        now = time.monotonic()
        done = self.hub.reserve(nbytes, now)
        if self.throttle_mbps:
            self._link_free_at = _queue(self._link_free_at, now, nbytes, self.throttle_mbps)
            done = max(done, self._link_free_at)
        delay = done - now
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
        return json_reply(entries)

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
            return json_reply({"error": str(exc)}, 400)
        return json_reply({k: {"value": f.value, "times": f.times} for k, f in self.faults.items()})

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
            if "battery_present" in q:
                cam.battery_present = q["battery_present"] == "1"
                cam.usb_power = cam.usb_power or not cam.battery_present  # without one, it runs on USB power
            if "muted" in q:
                cam.muted = q["muted"] == "1"  # a microphone fault: the next recordings are silent
            if "owner" in q:
                owner = int(q["owner"])
                if owner not in (0, 1, 2):
                    raise ValueError("owner must be 0 (idle), 1 (someone in its menus) or 2 (an app)")
                cam.control_owner = owner
                if owner == 1:
                    cam.touch()  # a user at the buttons restarts Auto Power Down
        except ValueError as exc:
            return json_reply({"error": str(exc)}, 400)
        if self.asleep:
            return json_reply(self._sim_state())
        self._arm_power_timer()  # an emptier battery may bring the next power-down closer
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
            return json_reply({"error": str(exc)}, 400)
        return json_reply([{"path": i.key, "size": i.size, "cre": i.cre} for i in items])

    async def sim_power(self, _request: web.Request) -> web.Response:
        return json_reply(await self.press_power())

    def _sim_state(self) -> dict[str, object]:
        return {"asleep": self.asleep, "boots": self.camera.boots}

    async def sim_info(self, _request: web.Request) -> web.Response:
        cam = self.camera
        return json_reply(
            {
                "serial": cam.serial,
                "model": cam.model,
                "host": self.host,
                "port": self.port,
                "hub": self.hub.number,
                "shadowed_by": self.shadowed_by,
                "media_root": str(cam.media.root),
                "faults": sorted(self.faults),
                "muted": cam.muted,
                # The truth a sync audit is checked against: when each recent recording's first sample
                # was heard (wall clock) and the shutter latency before it (null for fabricated takes).
                "recordings": list(cam.recordings),
                **self._sim_state(),
            }
        )
