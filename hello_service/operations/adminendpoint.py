# -*- test-case-name: tests.test_admin,tests.test_supervisor -*-
"""
What both kinds of service (one process, and the supervisor of
C{--workers}) do for operators, written once: the readiness C{/ready}
reports, the C{--drain-delay} grace once not ready, and the C{--admin} site
that says both.

The site itself (L{hello_service.operations.admin}, with C{prometheus_client}) is
imported only where C{--admin} is given: a worker, which never serves it,
does not load it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet.defer import DeferredList, maybeDeferred
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.task import deferLater

from hello_service.configuration.listening import (
    StartupError,
    describeAddress,
    listenAll,
)
from hello_service.http.counting import Figures
from hello_service.operations.lognames import NamedLogger

if TYPE_CHECKING:
    from hello_service.operations.admin import StatusRecorder
    from hello_service.operations.statuspage import ServiceStatus


class AdminEndpoint:
    """
    What both kinds of service (one process, and the supervisor of
    C{--workers}) do for operators, written once: the C{--admin} site, the
    readiness it reports, and the C{--drain-delay} grace once not ready.

    @ivar ready: whether the service serves and means to go on: C{/ready}.
        Set once the service has started, cleared when it stops; it reads
        true only while C{serving} says so too.
    """

    log = NamedLogger("hello_service.adminendpoint.AdminEndpoint")

    def __init__(
        self,
        address: tuple[str, IStreamServerEndpoint] | None,
        clock: IReactorTime,
        drainDelay: float = 0.0,
        serving: Callable[[], bool] = lambda: True,
    ) -> None:
        """
        @param address: where to serve the admin site (a C{--admin}
            description with its endpoint), or C{None} for nowhere.
        @param drainDelay: how long, once not ready, to keep serving while
            C{/ready} answers 503, before the drain starts.
        @param serving: whether everything that should serve does (with
            C{--workers}: every slot has a worker that said it serves).
        """
        self._started = False
        self._serving = serving
        self._address = address
        self._clock = clock
        self._drainDelay = drainDelay
        self._ports: list[IListeningPort] = []
        #: The status page's sampler, once the site listens.
        self.status: StatusRecorder | None = None

    def listen(
        self,
        figures: Callable[[], Figures],
        undo: Callable[[], None],
        restarts: Callable[[], dict[str, int]] = dict,
        status: Callable[[], ServiceStatus] | None = None,
    ) -> None:
        """
        Serve the admin site with the service's figures and status, if
        there is an address; if it cannot listen, C{undo} what the service
        already opened, then fail with the one-line L{StartupError}.
        """
        if self._address is None:
            return
        from hello_service.operations.admin import StatusRecorder, adminSite

        if status is not None:
            self.status = StatusRecorder(status, self._clock)
        site = adminSite(figures, lambda: self.ready, restarts, self.status)
        try:
            self._ports = listenAll([self._address], site)
        except StartupError:
            undo()
            raise
        if self.status is not None:
            self.status.start()

    @property
    def ready(self) -> bool:
        return self._started and self._serving()

    @ready.setter
    def ready(self, started: bool) -> None:
        self._started = started

    def described(self) -> str:
        """
        Where the admin site listens, for the serving line ("; admin site
        on tcp:127.0.0.1:9100"), the port really bound even for a
        description that asked for port 0; C{""} without C{--admin}.
        """
        if self._address is None or not self._ports:
            return ""
        return f"; admin site on {describeAddress(self._address[0], self._ports[0])}"

    @property
    def ports(self) -> list[IListeningPort]:
        """
        The admin site's listening ports (none without C{--admin}).
        """
        return list(self._ports)

    async def stopBeingReady(self) -> None:
        """
        Answer 503 on C{/ready} from now on, then keep serving for the drain
        delay, so that load balancers stop sending before any connection is
        refused.
        """
        self.ready = False
        if self._drainDelay > 0:
            self.log.info(
                "not ready: /ready answers 503; serving {delay} s more, then draining",
                delay=self._drainDelay,
            )
            await deferLater(self._clock, self._drainDelay, lambda: None)

    async def close(self) -> None:
        """
        Stop serving the admin site.
        """
        ports, self._ports = self._ports, []
        if self.status is not None:
            self.status.stop()
        await DeferredList([maybeDeferred(port.stopListening) for port in ports])
