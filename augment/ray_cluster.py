"""Ray for a job: join a cluster (``--ray-address``), or start a lean one on this machine.

A Ray started here for one job runs what a job needs (GCS, raylet, its agents, the workers)
and leaves out three processes that have nothing to do for it: the autoscaler's monitor (one
machine, nothing to scale; it ignored SIGTERM, so ``ray.shutdown()`` waited out its 1 s grace
period), the log monitor (jobs run with ``log_to_driver=False``) and the API server
(``include_dashboard=False`` still starts one, for usage statistics and the state API, and
``ray.init`` waits for it to register). Nor does it nap: ``ray.init`` asks the GCS for the
raylet it has just started through a lookup that sleeps a whole second between tries (Ray's
C++ ``GlobalStateAccessor::GetNode``), and the raylet is never registered at the first try;
here the node table is read every 20 ms until it is, then Ray's lookup runs once.

Measured on 2 cores (``ray.init`` alone, then a one-actor Ray Data job; two runs each):
``ray.init`` 1.6-1.7 s instead of 2.9-3.9 s, with less CPU taken from the engine that starts
next. Both are Ray internals (``ray._private``), replaced only while ``ray.init`` runs and
put back after it; a Ray without them starts as it always did.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from workbench import logs
from workbench.errors import ConfigError

log = logging.getLogger(__name__)

#: ``ray._private.node.Node`` methods that start what a one-job Ray here does not need.
SKIPPED = ("start_monitor", "start_log_monitor", "start_api_server")
#: How often the node table is read while the raylet registers.
POLL_S = 0.02


def connect(address: str | None, object_store_mb: int) -> bool:
    """Join the Ray cluster at ``address``, or start one on this machine when it is None
    (with all its cores); whether it was started here (then the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if not logs.verbose():  # Ray's own start-up lines and C++ warnings: the log
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    with logs.native_output_to_log():
        if address:
            reachable(address)
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            return False
        # Ray starts workers at nice 15, below its own daemons: the engine should not
        # yield its cores to them
        os.environ.setdefault("RAY_worker_niceness", "0")
        with lean_start():
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     configure_logging=False, object_store_memory=object_store_mb << 20)
        return True


def reachable(address: str) -> None:
    """A clear error in seconds for an address nobody answers at (Ray itself retries for
    a minute)."""
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"no Ray cluster answers at {address}: {exc.strerror or exc}; start "
                          "one (`ray start --head`) or leave --ray-address out to run Ray on "
                          "this machine") from None


@contextmanager
def lean_start() -> Iterator[None]:
    """While a local ``ray.init`` runs: the :data:`SKIPPED` processes are not started and the
    raylet's registration is awaited in :data:`POLL_S` steps. Everything is put back after."""
    with ExitStack() as stack:
        try:
            from ray._private import node, services
        except ImportError:  # another Ray: its own start
            yield
            return
        for name in SKIPPED:
            if hasattr(node.Node, name):
                stack.enter_context(_replaced(node.Node, name, _not_started(name)))
        lookup = getattr(services, "get_node", None)
        if lookup is not None and hasattr(services, "_get_gcs_client_options"):
            stack.enter_context(_replaced(services, "get_node", _after_registration(lookup)))
        yield


def _not_started(name: str) -> Any:
    def skip(self: Any, *args: Any, **kwargs: Any) -> None:
        log.debug("a job's own Ray: %s skipped", name)

    return skip


@contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _after_registration(lookup: Any) -> Any:
    """Ray's node lookup, called once the node is in the GCS's node table (read every
    :data:`POLL_S`; after 10 s Ray's own lookup takes over, with its own timeout)."""

    def get_node(gcs_address: str, node_id: str) -> Any:
        from ray._private import services
        from ray._private.state import GlobalState

        state = GlobalState()
        try:
            state._initialize_global_state(services._get_gcs_client_options(gcs_address))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    n.get("NodeID") == node_id and n.get("Alive") for n in state.node_table()):
                time.sleep(POLL_S)
        except Exception as exc:  # noqa: BLE001  (an optimisation only: Ray's lookup follows)
            log.debug("node table not read: %s", exc)
        finally:
            getattr(state, "disconnect", lambda: None)()
        return lookup(gcs_address, node_id)

    return get_node
