"""The session's Jupyter server's websocket to Enterprise Gateway's kernels.

Installed in the jupyter-server image (in its virtual environment) and put on
the process runtime's Jupyter server's ``sys.path`` (by its configuration);
the server's configuration names it:
``ServerApp.kernel_websocket_connection_class = orchest_jupyter.GatewayConnection``.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any
from uuid import uuid4

from jupyter_server.gateway.connections import GatewayWebSocketConnection


class GatewayConnection(GatewayWebSocketConnection):  # type: ignore[misc]
    """The Jupyter server's connection to a kernel through Enterprise Gateway
    (EG), one connection to EG per browser connection, each under its own
    session id, closed when the browser has gone.

    JupyterLab opens a notebook's kernel websocket and, a few milliseconds
    later, closes it and opens it again with the same session id. The
    server's own connection class cannot cancel the connection to EG it began
    for the first one: when it completes, it stays open, unused. EG (its
    jupyter-server 1) then takes the second one for a reconnect of the first:
    it "replaces the stale connection", buffers, and "restores" the second on
    the first one's channels, and the notebook's cells never get their output
    (or EG fails with ``KeyError: 'iopub'``). Here a connection to EG that
    completes after the browser left is closed at once, and each connection
    to EG has a session id of its own, so EG never restores one connection
    on another's channels. What is lost: messages a kernel sends while the
    browser is away are not replayed when it comes back (Lab asks the kernel
    for its state when it reconnects).
    """

    _upstream = ""

    @property
    def session_id(self) -> str:
        return f"{self.session.session}-{self._upstream}"

    async def connect(self) -> None:
        self._upstream = uuid4().hex[:12]
        await super().connect()

    def disconnect(self) -> None:
        """The browser left: close the connection to EG, or, while it is
        being made, close it once made (``_connection_done``). Cancelling
        the future, as the base class does, leaves the connection going on
        underneath, and open once made."""
        self.disconnected = True
        if self.ws is not None:
            self.ws.close()

    def _connection_done(self, fut: Future[Any]) -> None:
        super()._connection_done(fut)
        if self.disconnected and not fut.cancelled() and fut.exception() is None:
            fut.result().close()
