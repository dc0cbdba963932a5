# -*- test-case-name: tests.test_operations,tests.system.test_operations -*-
"""
What an operator drives and reads, the same in both modes (one process,
and the supervisor of C{--workers}), written once: the signal handlers,
the reactor-lag probe, the readiness and drain delay behind the admin
site, the service manager (systemd) and the request rate of its status
line.  Each mode owns one L{Operations} and calls it at the same points
of its life, so the start order and the stop order are the same in both.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IStreamServerEndpoint

from hello_service.operations.adminendpoint import AdminEndpoint
from hello_service.operations.notify import RequestRate, ServiceManager
from hello_service.operations.readiness import Readiness
from hello_service.operations.signals import OperatorSignals
from hello_service.operations.vitals import ReactorLag


class Operations:
    """
    The operations parts of one service, and the order they start and stop
    in.

    @ivar readiness: whether the service is ready, which C{/ready}, the
        status page and the manager are told.
    @ivar admin: the admin site, and the drain delay.
    @ivar lag: how late this process's reactor runs.
    @ivar manager: who is told where the service is (systemd, if it asks).
    @ivar rate: the request rate of the manager's status line.
    @ivar signals: what C{SIGHUP} and C{SIGUSR1} do in this mode.
    """

    def __init__(
        self,
        reactor: Any,
        manager: ServiceManager,
        actions: dict[signal.Signals, tuple[str, Callable[[], None]]],
        admin: tuple[str, IStreamServerEndpoint] | None = None,
        drainDelay: float = 0.0,
        serving: Callable[[], bool] = lambda: True,
    ) -> None:
        """
        @param actions: by signal, what it does (for the log line) and the
            action itself.
        @param admin: where to serve the admin site, if anywhere.
        @param serving: whether everything that should serve does (with
            C{--workers}: every slot has a worker that said it serves).
        """
        self.readiness = Readiness(serving)
        self.admin = AdminEndpoint(admin, reactor, self.readiness, drainDelay)
        self.lag = ReactorLag(reactor)
        self.manager = manager
        self.rate = RequestRate(reactor)
        self.signals = OperatorSignals(reactor, actions)

    def start(self, describe: Callable[[], str]) -> None:
        """
        The service has started: take the signals, probe the reactor, and
        give the manager its status line (C{describe}).
        """
        self.signals.install()
        self.lag.start()
        self.manager.start(describe)

    def serving(self) -> None:
        """
        Everything serves: C{/ready} answers 200 and the manager is told.
        """
        self.readiness.started()
        self.manager.ready()

    async def stopBeingReady(
        self, then: Callable[[], None] = lambda: None, tell: bool = True
    ) -> None:
        """
        The first half of a stop, before the listeners close: tell the
        manager (unless C{tell} is false: it was told why already), give
        the signals back, stop probing, do C{then}, and answer 503 on
        C{/ready} for the drain delay.
        """
        if tell:
            self.manager.stopping()
        self.signals.uninstall()
        self.lag.stop()
        then()
        await self.admin.stopBeingReady()

    async def close(self) -> None:
        """
        The last step of a stop, once everything drained: close the admin
        site and tell the manager the service is gone.
        """
        await self.admin.close()
        self.manager.stop()
