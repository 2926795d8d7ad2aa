"""Sheets and cuts on a Ray cluster: `shotrender render --executor ray [--address ADDR]`.

The driver (the `render` process) plans, prepares the output folder, hands tasks to a pool of Ray actors
and writes the manifest. First one task per chain with sheets, painting them (`--sheets-only`); when all
are done, one task per cut unit (a cut and the cuts reusing it, farm.cut_units), painting it from its
sheet (`--no-sheets`). Each actor holds one backend, loads its model on the first painting that needs it
and keeps it for every later task. An actor runs a task with the same code as a local render
(`render.Run`) and writes through the same store, so the output folder must be one every node sees (a
shared file system), as on any farm. What happened comes back per task and is replayed into the
driver's progress and result.

A worker that dies (node lost, killed for memory) is replaced and its task given out once more; what it
had finished is in the store and is not painted again. Ray itself is imported only here.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, replace

from shotrender import signals
from shotrender.errors import BackendError, Interrupted, ShotRenderError, UsageError
from shotrender.farm import cut_units
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


@dataclass(frozen=True)
class Task:
    """One chain's sheets (stage `sheets`) or one cut unit (stage `cuts`, a chain of that unit's cuts)."""

    chain: Chain
    stage: str

    @property
    def name(self) -> str:
        return f"the sheets of {self.chain.name}" if self.stage == "sheets" else f"cut {'+'.join(self.chain.cuts)}"


def phases(run: Run, chains: tuple[Chain, ...]) -> list[list[Task]]:
    """The sheets' tasks, then the cuts' (either left out when the run's stage leaves it out, or empty)."""
    stage = run.options.stage
    sheets = [Task(c, "sheets") for c in chains if stage != "cuts" and run.state.sheets_for(c.jobs)]
    cuts = [Task(unit, "cuts") for c in chains if stage != "sheets" for unit in cut_units(c)]
    return [tasks for tasks in (sheets, cuts) if tasks]


class ChainWorker:
    """The body of one Ray actor: one backend, loaded once, for every task the actor is given."""

    def __init__(self, backend, options):
        self.backend, self.options, self.loaded = backend, options, False

    def run(self, plan: Plan, stage: str) -> tuple[list[tuple], dict, int, dict[str, str]]:
        recorder = _Recorder()
        run = Run(plan, self.backend, replace(self.options, stage=stage), recorder, loaded=self.loaded)
        run.run_chains(plan.chains)
        self.loaded = run.loaded
        return recorder.events, run.result.backend, run.result.model_loads, run.result.sheets


@dataclass(frozen=True)
class RayExecutor:
    address: str | None = None  # None: start a private local cluster on this machine (loopback only)
    workers: int | None = None  # None: as many as the cluster's resources fit, at most one per task
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
                # a worker killed in the middle of a write leaves its temporary; on this host, now that it is
                # gone, it is removed here rather than by the next run
                for store in (run.store, run.sheet_store):
                    if store.dir.is_dir():
                        store.prepare()

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
        stages = phases(run, chains)
        count = max(1, min(self.workers or fit or 1, max((len(tasks) for tasks in stages), default=1)))
        run.progress.message(f"ray: {count} worker{'s' if count != 1 else ''} ({self.cpus:g} CPU, {gpus:g} GPU "
                             f"each) on {self.address or 'a local cluster'}")
        worker = ray.remote(ChainWorker).options(num_cpus=self.cpus, num_gpus=gpus)
        options = replace(run.options, out_dir=run.options.out_dir.resolve())
        actors += [worker.remote(run.backend, options) for _ in range(count)]
        for tasks in stages:  # every sheet painted before any cut is given out
            self._dispatch(ray, run, tasks, actors, lambda: worker.remote(run.backend, options))

    def _dispatch(self, ray, run: Run, tasks: list[Task], actors: list, new_actor) -> None:
        from ray.exceptions import RayActorError, RayTaskError

        queue = list(tasks)
        idle = list(actors)
        pending: dict = {}
        retried: set[Task] = set()
        while queue or pending:
            while idle and queue:
                actor, task = idle.pop(0), queue.pop(0)
                pending[actor.run.remote(Plan(run.plan.shotlist, (task.chain,)), task.stage)] = (actor, task)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            if signals.received() is not None:
                raise Interrupted(signals.received())
            if not ready:
                continue
            ref = ready[0]
            actor, task = pending.pop(ref)
            try:
                events, backend, loads, sheets = ray.get(ref)
            except RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, ShotRenderError):
                    raise cause from None
                raise BackendError(f"{task.name} failed on a Ray worker: {cause or e}") from None
            except RayActorError as e:
                actors.remove(actor)
                ray.kill(actor)
                replacement = new_actor()
                actors.append(replacement)
                idle.append(replacement)
                if task in retried:
                    self._lost(run, task, e)
                else:
                    retried.add(task)
                    run.progress.message(f"ray: the worker running {task.name} was lost; running it again")
                    queue.insert(0, task)
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
            run.result.sheets.update(sheets)

    def _lost(self, run: Run, task: Task, error: Exception) -> None:
        """A task lost twice: its cuts failed; lost sheets are missing, so their cuts are then blocked."""
        reason = f"its Ray worker was lost twice ({type(error).__name__}); run render again to finish it"
        if task.stage == "sheets":
            run.progress.message(f"ray: {task.name} not painted: {reason}")
        for cut in task.chain.cuts if task.stage == "cuts" else ():
            run.finish(CutResult(cut, task.chain.name, "failed", error=reason), "")

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
