"""Chains on a Ray cluster: `shotrender render --executor ray [--address ADDR]`.

The driver (the `render` process) plans, prepares the output folder, hands whole chains to a pool of
Ray actors and writes the manifest. Each actor holds one backend, loads its model on the first cut
that needs it and keeps it for every later chain. An actor runs a chain with the same code as a
local render (`render.Run`) and writes through the same store, so the output folder must be one
every node sees (a shared file system), as on any farm. What happened comes back per chain and is
replayed into the driver's progress and result.

A worker that dies (node lost, killed for memory) is replaced and its chain given out once more; the
cuts it had finished are in the store and are not rendered again. Ray itself is imported only here.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, replace

from shotrender import signals
from shotrender.errors import BackendError, Interrupted, ShotRenderError, UsageError
from shotrender.plan import Chain, Plan
from shotrender.render import CutResult, Run

WAIT_SECONDS = 0.5  # how often the driver looks up from waiting on workers to notice a signal


class _Recorder:
    """A Progress that keeps every event for the driver to replay."""

    def __init__(self):
        self.events: list[tuple] = []

    def start(self, episode: str, total: int) -> None:
        pass

    def cut_started(self, cut: str) -> None:
        self.events.append(("started", cut))

    def cut_finished(self, result: CutResult, detail: str) -> None:
        self.events.append(("finished", result, detail))

    def message(self, text: str) -> None:
        self.events.append(("message", text))

    def close(self) -> None:
        pass


class ChainWorker:
    """The body of one Ray actor: one backend, loaded once, for every chain the actor is given."""

    def __init__(self, backend, options):
        self.backend, self.options, self.loaded = backend, options, False

    def run(self, plan: Plan) -> tuple[list[tuple], dict, int]:
        recorder = _Recorder()
        run = Run(plan, self.backend, self.options, recorder, loaded=self.loaded)
        run.run_chains(plan.chains)
        self.loaded = run.loaded
        return recorder.events, run.result.backend, run.result.model_loads


@dataclass(frozen=True)
class RayExecutor:
    address: str | None = None  # None: start a private local cluster on this machine (loopback only)
    workers: int | None = None  # None: as many as the cluster's resources fit, at most one per chain
    cpus: float = 1.0  # per worker; on a CPU-only worker also torch's thread count (OMP_NUM_THREADS)
    gpus: float | None = None  # per worker; None: 1 when the cluster has GPUs, else 0

    def run(self, run: Run, chains: tuple[Chain, ...]) -> None:
        if not chains:
            return
        ray = _import_ray()
        actors: list = []
        ours = not ray.is_initialized()  # a session the caller opened is the caller's to close
        try:
            if ours:
                self._connect(ray)
        except BaseException:
            self._stop(ray, actors, ours)  # ray.init failed or was interrupted half way
            raise
        # our handler again, in place of the SIGTERM handler ray.init installs (which exits with code 15), and
        # until Ray is stopped. Held: raising inside Ray's C++ wait loses the exception, so the dispatch loop
        # waits in short steps and raises Interrupted itself.
        with signals.catching(), signals.held():
            try:
                self._start_and_dispatch(ray, run, chains, actors)
            finally:
                self._stop(ray, actors, ours)

    @staticmethod
    def _stop(ray, actors: list, ours: bool) -> None:
        while actors:
            ray.kill(actors.pop())
        if ours and ray.is_initialized():
            ray.shutdown()  # leaves a cluster we joined running; stops the private one we started

    def _start_and_dispatch(self, ray, run: Run, chains: tuple[Chain, ...], actors: list) -> None:
        """Start the workers (into `actors`, which the caller kills at the end) and hand out the chains."""
        resources = ray.cluster_resources()
        gpus = self.gpus if self.gpus is not None else (1.0 if resources.get("GPU", 0) >= 1 else 0.0)
        fit = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // self.cpus)
        count = max(1, min(self.workers or fit or 1, len(chains)))
        run.progress.message(f"ray: {count} worker{'s' if count != 1 else ''} ({self.cpus:g} CPU, {gpus:g} GPU "
                             f"each) on {self.address or 'a local cluster'}")
        worker = ray.remote(ChainWorker).options(num_cpus=self.cpus, num_gpus=gpus)
        options = replace(run.options, out_dir=run.options.out_dir.resolve())
        actors += [worker.remote(run.backend, options) for _ in range(count)]
        self._dispatch(ray, run, chains, actors, lambda: worker.remote(run.backend, options))

    def _dispatch(self, ray, run: Run, chains: tuple[Chain, ...], actors: list, new_actor) -> None:
        from ray.exceptions import RayActorError, RayTaskError

        queue = list(chains)
        idle = list(actors)
        pending: dict = {}
        retried: set[str] = set()
        while queue or pending:
            while idle and queue:
                actor, chain = idle.pop(0), queue.pop(0)
                pending[actor.run.remote(Plan(run.plan.shotlist, (chain,)))] = (actor, chain)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            if signals.received() is not None:
                raise Interrupted(signals.received())
            if not ready:
                continue
            ref = ready[0]
            actor, chain = pending.pop(ref)
            try:
                events, backend, loads = ray.get(ref)
            except RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, ShotRenderError):
                    raise cause from None
                raise BackendError(f"chain {chain.name} failed on a Ray worker: {cause or e}") from None
            except RayActorError as e:
                actors.remove(actor)
                ray.kill(actor)
                replacement = new_actor()
                actors.append(replacement)
                idle.append(replacement)
                if chain.name in retried:
                    self._lost(run, chain, e)
                else:
                    retried.add(chain.name)
                    run.progress.message(f"ray: the worker running chain {chain.name} was lost; running it again")
                    queue.insert(0, chain)
                continue
            idle.append(actor)
            for event in events:
                if event[0] == "started":
                    run.progress.cut_started(event[1])
                elif event[0] == "finished":
                    run.finish(event[1], event[2])
                else:
                    run.progress.message(event[1])
            run.result.backend = backend or run.result.backend
            run.result.model_loads += loads

    def _lost(self, run: Run, chain: Chain, error: Exception) -> None:
        reason = f"its Ray worker was lost twice ({type(error).__name__}); run render again to finish it"
        for cut in chain.cuts:
            run.finish(CutResult(cut, chain.name, "failed", error=reason), "")

    def _connect(self, ray) -> None:
        """Join the cluster at `address`, or start a private one here."""
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
                         **quiet)
        except SystemExit as e:
            if e.code == signal.SIGTERM:  # the handler ray.init installs, run before ray.init returned
                raise Interrupted(signal.SIGTERM) from None
            raise
        except (ConnectionError, RuntimeError, ValueError) as e:
            if signals.interrupted_by(e) is not None:  # Ray wrapped our Interrupted
                raise Interrupted(signals.interrupted_by(e)) from e
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise BackendError(f"cannot start or reach {where}: {e}; check --address (ray://HOST:10001, HOST:6379 "
                               f"or auto) and that `ray status` answers there") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray on this machine and the workers: "
                         "pip install 'shotrender[ray]'") from None
    return ray
