"""Every HTTP server the bot runs, started one way: with time limits and a connection cap.

Why: aiohttp on its own never times out a request whose headers never finish (nor a body that
never arrives), and accepts connections until the process runs out of file descriptors. About
1,100 half-open connections to the public count or the webhook port (both listen on 0.0.0.0)
used to take the whole bot offline: `/count.json` failed, and supporters got no answer because
the bot could no longer open connections to the Bot API (issue #16). So `serve` gives every
server (webhook, public count, a metrics server later) the same protection:

- **Headers** must be complete within `header_timeout` of the connection opening, or of the
  previous request's handler finishing on a keep-alive connection (sending bytes slowly does
  not extend it: the deadline is for the whole request head, not between reads).
- **A body** must have arrived completely within `body_timeout` of its headers.
- **Idle keep-alive** connections are closed by aiohttp after `keepalive_timeout`.
- **At most `max_connections`** per server: beyond it the oldest connection still waiting for
  a request's headers (half-open, or idle keep-alive) is dropped to make room; when every
  connection is busy with a request, the new one gets a 503 and is closed at once. Combined
  with `raise_open_file_limit`, the cap, not the OS's file limit, is what a flood runs into.

How, in aiohttp's terms (kept to seams that exist from aiohttp 3.9 to 3.14):

- `web.AppRunner(**handler_args)` passes `keepalive_timeout`, `max_line_size`, `max_field_size`
  to aiohttp's per-connection protocol, `web_protocol.RequestHandler`. Only the arguments the
  installed version's `RequestHandler` accepts are passed: `web.Server.__call__` silently drops
  *all* of them on a TypeError.
- `GuardedSite`, a `web.BaseSite` (aiohttp's extension point for where a runner listens, like
  `TCPSite`), listens with `ConnectionGuard` as the protocol factory instead of `runner.server`.
  The guard counts connections and hands each one a `_Connection`: a thin `asyncio.Protocol`
  that forwards every event to the `RequestHandler` made by `runner.server()` (so aiohttp still
  tracks it for graceful shutdown), and owns the header and body timers.
- "Headers complete" and "request handled" are aiohttp's `Server.request_factory` (called with
  the protocol once a request's head is parsed) and `Server.request_handler`, both public
  attributes of `runner.server` read by each `RequestHandler` when it is created; the guard
  wraps them before the site listens. "Body complete" is the payload's `on_eof` callback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

log = logging.getLogger(__name__)

# File descriptors kept out of every server's share: the database, the Bot API connection
# pool, log files, the event loop's own.
RESERVED_FDS = 256
# The servers one process may run (webhook, public count, metrics): each gets at most an equal
# share of the file limit, whatever its configured cap, so together they cannot exhaust it.
SERVERS_PER_PROCESS = 3
# Where the hard limit is "unlimited" (macOS), the soft limit cannot be set to infinity.
OPEN_FILES_CEILING = 1 << 20
# At the cap, one warning per server per this many seconds, not one per connection.
NOTE_INTERVAL = 60.0

OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
)
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How long a client may take, and how many may be connected at once, per server."""

    header_timeout: float = 10.0  # seconds for a request's whole head (request line + headers)
    body_timeout: float = 15.0  # seconds for its whole body, from the end of the head
    keepalive_timeout: float = 5.0  # seconds an idle keep-alive connection is kept (aiohttp's)
    max_connections: int = 512  # open connections per server
    max_line_size: int = 8190  # bytes of the request line (aiohttp's default)
    max_field_size: int = 8190  # bytes of one header (aiohttp's default)

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    def handler_args(self) -> dict[str, Any]:
        """What aiohttp enforces itself, as `RequestHandler` arguments this version accepts."""
        wanted: dict[str, Any] = {
            "keepalive_timeout": self.keepalive_timeout,
            "max_line_size": self.max_line_size,
            "max_field_size": self.max_field_size,
        }
        accepted = inspect.signature(web.RequestHandler.__init__).parameters
        return {key: value for key, value in wanted.items() if key in accepted}


# Read when a server starts, not when this module is imported: tests shorten every server's
# limits at once by replacing it.
DEFAULT_LIMITS = ServerLimits()


@dataclass(slots=True)
class ConnectionStats:
    """One server's connection figures since it started (for logs, tests, a metrics page)."""

    open: int = 0  # connections now counted against the cap
    peak_open: int = 0  # the most ever counted at once (never above the cap)
    accepted: int = 0
    header_timeouts: int = 0  # dropped: a request's head was not complete in time
    body_timeouts: int = 0  # dropped: a request's body was not complete in time
    idle_closed: int = 0  # closed: idle after a request, no new one in time (normal)
    evicted: int = 0  # dropped at the cap to make room: the oldest waiting for headers
    refused: int = 0  # closed at once at the cap: every connection was busy with a request


@functools.cache
def raise_open_file_limit() -> int | None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (once); the limit in force.

    The OS default soft limit is often 1,024: then ~1,000 idle connections are enough to stop
    the bot opening anything else. The hard limit is what an unprivileged process may use.
    None where there is no such limit (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    before = soft
    wanted = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as error:  # a sandbox may refuse: keep what we have
            log.debug("cannot raise the open files limit to %d: %s", wanted, error)
    if soft == resource.RLIM_INFINITY:
        soft = OPEN_FILES_CEILING
    if soft != before:
        log.info("open files limit: %d (raised from %d, the hard limit)", soft, before)
    else:
        log.info("open files limit: %d", soft)
    return soft


def connection_cap(limits: ServerLimits, open_files: int | None) -> int:
    """The configured cap, lowered if need be so every server's share fits the file limit."""
    if open_files is None:
        return limits.max_connections
    share = max(1, (open_files - RESERVED_FDS) // SERVERS_PER_PROCESS)
    return min(limits.max_connections, share)


class _Connection(asyncio.Protocol):
    """One client connection: aiohttp's `RequestHandler` inside, our timers around it.

    The transport calls this protocol; each event is passed on to the handler unchanged. The
    handler is made only once the guard admits the connection, so a refused one costs nothing.
    """

    __slots__ = (
        "_body_timer",
        "_header_timer",
        "closed",
        "cut",
        "guard",
        "handler",
        "partial",
        "transport",
        "waiting",
    )

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.handler: web.RequestHandler | None = None
        self.transport: asyncio.Transport | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self.waiting = False  # waiting for a request's head (new, or between requests)
        self.partial = False  # part of that head arrived
        self.cut = False  # we dropped it (a timeout, or the cap)
        self.closed = False

    # asyncio.Protocol: forwarded to aiohttp's handler.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports do not derive from asyncio's classes
        self.transport = transport = cast(asyncio.Transport, transport)
        if not self.guard.admit(self):
            return
        self.handler = handler = self.guard.server()  # what TCPSite would have used
        self.guard.by_handler[handler] = self
        self.await_headers(first=True)
        handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.waiting and data:
            self.partial = True
        if self.handler is not None:
            self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self.handler is not None:
            return self.handler.eof_received()
        return None  # refused: let the transport close

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timers()
        self.guard.forget(self)
        if self.handler is not None:
            self.guard.by_handler.pop(self.handler, None)
            self.handler.connection_lost(exc)

    # The timers.

    def await_headers(self, *, first: bool = False) -> None:
        """From now on, a request's head is due within `header_timeout`."""
        self.waiting = True
        self.partial = False
        self.guard.waiting_for_headers(self)
        if self._header_timer is not None:
            self._header_timer.cancel()
        loop = self.guard.loop
        self._header_timer = loop.call_later(
            self.guard.limits.header_timeout, self._headers_late, first
        )

    def headers_done(self, payload: Any) -> None:
        """A request's head is parsed: its body (if any) is due within `body_timeout`."""
        self.waiting = False
        self.guard.busy(self)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._body_timer is not None:  # a pipelined request: the previous body is complete
            self._body_timer.cancel()
            self._body_timer = None
        if not payload.is_eof():  # aiohttp's empty payload (no body) is always at eof
            timer = self.guard.loop.call_later(
                self.guard.limits.body_timeout, self._body_late, payload
            )
            self._body_timer = timer
            payload.on_eof(timer.cancel)

    def _headers_late(self, first: bool) -> None:
        self._header_timer = None
        if not self.waiting or self.closed:
            return
        if first or self.partial:  # a slow or silent client
            self.guard.stats.header_timeouts += 1
            self.drop(TIMED_OUT if self.partial else b"")
        else:  # an ordinary keep-alive connection nobody reused: close it quietly
            self.guard.stats.idle_closed += 1
            self.drop(b"")

    def _body_late(self, payload: Any) -> None:
        self._body_timer = None
        if payload.is_eof() or self.closed:
            return
        self.guard.stats.body_timeouts += 1
        self.drop(b"")  # the handler may be reading: answering is aiohttp's, not ours

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def drop(self, farewell: bytes) -> None:
        """Close now, and stop counting it against the cap at once."""
        self.cut = True
        self._cancel_timers()
        self.guard.forget(self)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if farewell:
            transport.write(farewell)
        # close() waits to send what is buffered: a client that does not read would keep the
        # file descriptor; abort() frees it at once.
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()


class ConnectionGuard:
    """The protocol factory of one server: counts its connections, enforces the cap, and
    tells each connection when aiohttp has parsed a request's head and handled the request."""

    def __init__(
        self, server: web.Server, limits: ServerLimits, cap: int, name: str = "http"
    ) -> None:
        self.server = server
        self.limits = limits
        self.cap = cap
        self.name = name
        self.loop = asyncio.get_running_loop()
        self.stats = ConnectionStats()
        self.by_handler: dict[web.RequestHandler, _Connection] = {}
        self._open: set[_Connection] = set()
        # Connections waiting for a request's head, oldest first (dicts keep insertion order):
        # the first to go when the cap is reached.
        self._waiting: dict[_Connection, None] = {}
        self._noted_at: float | None = None
        # Every RequestHandler reads these two from the server when it is made: wrap them now,
        # before the site listens.
        self._make_request = server.request_factory
        self._handle = server.request_handler
        server.request_factory = self._request_made
        server.request_handler = self._request_handled

    def __call__(self) -> _Connection:
        return _Connection(self)

    def admit(self, connection: _Connection) -> bool:
        """Count a new connection in; False (and it is closed) when there is no room."""
        if len(self._open) >= self.cap:
            oldest = next(iter(self._waiting), None)
            if oldest is None:  # every connection is busy with a request: refuse the new one
                self.stats.refused += 1
                self._note()
                connection.drop(OVERLOADED)
                return False
            self.stats.evicted += 1
            self._note()
            oldest.drop(b"")
        self._open.add(connection)
        stats = self.stats
        stats.accepted += 1
        stats.open = len(self._open)
        stats.peak_open = max(stats.peak_open, stats.open)
        return True

    def forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        self._waiting.pop(connection, None)
        self.stats.open = len(self._open)

    def waiting_for_headers(self, connection: _Connection) -> None:
        if connection in self._open:
            self._waiting.pop(connection, None)  # re-inserted: now the newest
            self._waiting[connection] = None

    def busy(self, connection: _Connection) -> None:
        self._waiting.pop(connection, None)

    def _request_made(
        self, message: Any, payload: Any, protocol: web.RequestHandler, *rest: Any
    ) -> web.BaseRequest:
        """aiohttp's request factory: called once a request's head is parsed."""
        request = self._make_request(message, payload, protocol, *rest)
        connection = self.by_handler.get(protocol)
        if connection is not None:
            connection.headers_done(payload)
        return request

    async def _request_handled(self, request: web.BaseRequest) -> web.StreamResponse:
        """aiohttp's request handler (the app), then: the next request's head is due."""
        connection = self.by_handler.get(request.protocol)
        try:
            return await self._handle(request)
        except Exception:
            if connection is not None and connection.cut:
                # The handler failed because we cut its connection (a body too slow): nothing
                # can be sent any more, and it is no bug worth aiohttp's error log.
                return web.Response(status=408)
            raise
        finally:
            if connection is not None and not connection.cut and not connection.closed:
                connection.await_headers()

    def _note(self) -> None:
        now = self.loop.time()
        if self._noted_at is not None and now - self._noted_at < NOTE_INTERVAL:
            return
        self._noted_at = now
        stats = self.stats
        log.warning(
            "%s server at its cap of %d connections: dropping the oldest waiting for headers "
            "(%d so far), refusing new ones when all are busy (%d so far); "
            "%d header and %d body timeouts since start",
            self.name,
            self.cap,
            stats.evicted,
            stats.refused,
            stats.header_timeouts,
            stats.body_timeouts,
        )


class GuardedSite(web.BaseSite):
    """`web.TCPSite`, listening through a `ConnectionGuard` instead of `runner.server`."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def guard(self) -> ConnectionGuard:
        return self._guard

    async def start(self) -> None:
        await super().start()  # registers the site with the runner (and its cleanup)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard, self._host, self._port, backlog=self._backlog
        )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    limits: ServerLimits | None = None,
    shutdown_timeout: float = 5.0,
    name: str = "http",
) -> web.AppRunner:
    """Start listening on host:port (0: the OS picks, see `bound_port`) with `limits`.

    Returns the runner: `await runner.cleanup()` stops it (in-flight requests get
    `shutdown_timeout` seconds to finish).
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    cap = connection_cap(limits, raise_open_file_limit())
    if cap < limits.max_connections:
        log.warning(
            "%s server: at most %d connections, not %d: the open files limit is too low",
            name,
            cap,
            limits.max_connections,
        )
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, **limits.handler_args())
    await runner.setup()
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, limits, cap, name)
        site = GuardedSite(runner, host, port, guard)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.BaseRunner) -> int:
    """The port actually listened on (useful when asked for port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the server is not listening on a TCP port")


def connection_stats(runner: web.BaseRunner) -> ConnectionStats | None:
    """The figures of a server started by `serve` (None for any other runner)."""
    for site in runner.sites:
        if isinstance(site, GuardedSite):
            return site.guard.stats
    return None
