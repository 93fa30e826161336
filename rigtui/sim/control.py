"""The rig's control server: every camera's `/_sim/` control on one address of its own.

A camera's own server answers nothing while the camera is asleep or its link is down, and a shadowed
camera (its address taken by another) has none; this server still reaches them, so the power button
can be pressed: `GET /_sim/power?camera=3`. `camera` is an index from 1 or a serial; every other
`/_sim/` route of a camera works here too, and `/_sim/cameras` lists the rig.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from rigtui.sim.server import CameraServer, json_errors, json_reply


class ControlServer:
    def __init__(
        self,
        find: Callable[[str], CameraServer],
        describe: Callable[[], list[dict[str, object]]],
        host: str,
        port: int,
    ) -> None:
        self.find = find
        self.describe = describe
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[json_errors], handler_args={"access_log": None})
        app.router.add_get("/_sim/cameras", self.cameras)
        app.router.add_route("*", "/_sim/{name:.+}", self.camera_route)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def cameras(self, _request: web.Request) -> web.Response:
        return json_reply(self.describe())

    async def camera_route(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("camera")
        if key is None:
            return json_reply({"error": "name the camera: ?camera=INDEX (from 1) or ?camera=SERIAL"}, 400)
        try:
            server = self.find(key)
        except KeyError:
            return json_reply({"error": f"no camera {key!r} in this rig"}, 404)
        handler = server.sim_routes().get(request.path)
        if handler is None or request.method not in ("GET", "POST"):
            return json_reply({"error": f"no control {request.method} {request.path}"}, 404)
        return await handler(request)
