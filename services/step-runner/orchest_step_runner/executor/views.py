"""Step views kept from one attempt to the next (``isolation.py``).

A script step's view differs from another's only by what is bound at
``/project-dir`` (the run's project directory) and ``/pipeline.json`` (the
frozen definition, the same bytes for every attempt of a run and for the
runs of one pipeline version); ``/data`` is the runner's, every other entry
of ``/`` the host's. So a view is made once per (project directory,
definition) and kept: the attempts with that pair use it while any of them
runs, and for ``IDLE_SECONDS`` after the last one ends; at most
``IDLE_MAX`` idle views are kept (the least recently used dropped first),
none is given to new attempts once ``MAX_AGE_SECONDS`` old, and all of
them end with their holder (its namespace ends with it, however
the runner ends). What each attempt still has of its own is its working
directory (``nsenter --wdns``) and its environment.

What keeps this as safe as a view per attempt:

- a view is looked up by the project directory's absolute path and the
  definition's bytes, so an attempt never gets a view with another
  project directory or another ``/pipeline.json`` at those places;
- the view's top level is read-only (``holder_main.keep``), so nothing a
  step writes there reaches the steps after it; ``/pipeline.json`` is
  read-only as before, ``/project-dir`` and ``/data`` are the same
  folders for every step that gets that view anyway;
- a view of a holder that ended is never used again (a view is the
  holder's), and the views live in the holder's own tmpfs: nothing of
  them is on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .holder import IsolationError

if TYPE_CHECKING:
    from .holder import ViewHolder

IDLE_SECONDS = 30.0
"""How long a view no attempt uses is kept."""
IDLE_MAX = 8
"""How many views no attempt uses are kept at most."""
MAX_AGE_SECONDS = 600.0
"""A view older than this is not given to new attempts (made again): its
copy of ``/``'s top-level entries is taken when it is made, so an entry
the host gains later is seen by steps within this long even while a view
is never idle."""


@dataclass(eq=False)
class _View:
    name: str
    holder: ViewHolder
    made: asyncio.Future[bool]
    born: float
    users: int = 0
    idle_since: float = 0.0


@dataclass
class KeptViews:
    """The views kept for the attempts after, by (project directory, definition)."""

    idle_seconds: float = IDLE_SECONDS
    idle_max: int = IDLE_MAX
    max_age_seconds: float = MAX_AGE_SECONDS
    _views: OrderedDict[tuple[str, bytes], _View] = field(default_factory=OrderedDict)
    """Least recently used first."""
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._views)

    @contextlib.asynccontextmanager
    async def use(
        self, holder: ViewHolder, binds: list[tuple[Path, str, bool]], pipeline: bytes
    ) -> AsyncIterator[Path]:
        """The root of the view with ``binds`` (the project directory first)
        and the definition ``pipeline``, made if there is none, for as long as
        the attempt runs."""
        key = (str(binds[0][0]), pipeline)
        view = self._views.get(key)
        loop = asyncio.get_running_loop()
        # A view of a holder that ended, or too old: made again (the steps
        # still in the old one keep it until they end).
        if view is not None and (
            view.holder is not holder or loop.time() - view.born >= self.max_age_seconds
        ):
            self._forget(key, view)
            view = None
        if view is None:
            future: asyncio.Future[bool] = loop.create_future()
            view = _View(f"view-{next(self._names)}", holder, future, loop.time())
            self._views[key] = view
            view.users += 1
            await self._make(key, view, binds)
        else:
            self._views.move_to_end(key)
            view.users += 1
            if not view.made.done():
                try:
                    made = await asyncio.shield(view.made)
                except BaseException:
                    self._release(key, view)
                    raise
                if not made:
                    self._release(key, view)
                    raise IsolationError("the view this attempt waited for could not be made")
        try:
            yield holder.root_of(view.name)
        finally:
            self._release(key, view)

    async def _make(
        self, key: tuple[str, bytes], view: _View, binds: list[tuple[Path, str, bool]]
    ) -> None:
        try:
            await view.holder.keep(view.name, binds)
        except BaseException:
            view.made.set_result(False)
            self._release(key, view)
            self._forget(key, view)
            if view.holder.alive:  # cancelled mid-request: the holder may have made it
                view.holder.drop_soon(view.holder.root_of(view.name))
            raise
        view.made.set_result(True)

    def _release(self, key: tuple[str, bytes], view: _View) -> None:
        view.users -= 1
        if view.users:
            return
        if self._views.get(key) is not view:  # forgotten while in use: dropped now
            self._drop(view)
            return
        loop = asyncio.get_running_loop()
        view.idle_since = loop.time()
        self._trim(loop.time())

    def _trim(self, now: float) -> None:
        """Drop the views idle too long, then the least recently used idle
        ones beyond ``idle_max``; wake up when the next idle one expires."""
        idle = [(key, view) for key, view in self._views.items() if view.users == 0]
        for at, (key, view) in enumerate(idle):
            if at < len(idle) - self.idle_max or now - view.idle_since >= self.idle_seconds:
                self._forget(key, view)
        left = [view.idle_since for view in self._views.values() if view.users == 0]
        if not left:
            return
        due = min(left) + self.idle_seconds
        if self._timer is not None and self._timer.when() <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(max(now, due), self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._trim(asyncio.get_running_loop().time())

    def _forget(self, key: tuple[str, bytes], view: _View) -> None:
        """Give ``view`` to no more attempts; dropped now if none uses it,
        else once the last one ends (an attempt may hold its root and not
        have started its step yet)."""
        if self._views.get(key) is view:
            del self._views[key]
        if view.users == 0:
            self._drop(view)

    @staticmethod
    def _drop(view: _View) -> None:
        """Detach ``view`` in its holder (a step still in it, one its attempt
        left behind, keeps it until it ends)."""
        if view.made.done() and view.made.result() and view.holder.alive:
            view.holder.drop_soon(view.holder.root_of(view.name))

    def close(self) -> None:
        """Drop every view (the holder is about to end)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for key, view in list(self._views.items()):
            del self._views[key]
            self._drop(view)
