# -*- test-case-name: tests.test_admin,tests.test_supervisor -*-
"""
The C{--admin} site of both kinds of service (one process, and the
supervisor of C{--workers}), written once: where it listens, the
L{Readiness} it reports on C{/ready}, and the C{--drain-delay} grace once
the service is no longer ready.

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
from hello_service.operations.readiness import Readiness

if TYPE_CHECKING:
    from hello_service.operations.admin import StatusRecorder
    from hello_service.operations.statuspage import ServiceStatus


class AdminEndpoint:
    """
    The C{--admin} site, which reports the service's L{Readiness}, and the
    C{--drain-delay} grace once the service is no longer ready.
    """

    log = NamedLogger("hello_service.adminendpoint.AdminEndpoint")

    def __init__(
        self,
        address: tuple[str, IStreamServerEndpoint] | None,
        clock: IReactorTime,
        readiness: Readiness,
        drainDelay: float = 0.0,
    ) -> None:
        """
        @param address: where to serve the admin site (a C{--admin}
            description with its endpoint), or C{None} for nowhere.
        @param drainDelay: how long, once not ready, to keep serving while
            C{/ready} answers 503, before the drain starts.
        @param readiness: what C{/ready} reports.
        """
        self._readiness = readiness
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
        readiness = self._readiness
        site = adminSite(figures, lambda: readiness.ready, restarts, self.status)
        try:
            self._ports = listenAll([self._address], site)
        except StartupError:
            undo()
            raise
        # Said at once, before anything serves: the port of an admin site
        # asked for on port 0 is known even if the start then fails.
        self.log.info("admin site listening on {address}", address=self.address())
        if self.status is not None:
            self.status.start()

    def described(self) -> str:
        """
        Where the admin site listens, for the serving line ("; admin site
        on tcp:127.0.0.1:9100"), the port really bound even for a
        description that asked for port 0; C{""} without C{--admin}.
        """
        address = self.address()
        return f"; admin site on {address}" if address else ""

    def address(self) -> str:
        """
        Where the admin site listens (C{tcp:127.0.0.1:9100}), the port
        really bound; C{""} if it does not.
        """
        if self._address is None or not self._ports:
            return ""
        return describeAddress(self._address[0], self._ports[0])

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
        self._readiness.stopped()
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
