"""Calls in flight: one worker process keeps up to PLANNER_MAX_IN_FLIGHT agent and
workflow calls open at once, on one asyncio event loop, without a thread per call.

The queue's tasks hand run ids over (`submit`) and return at once, so the worker's
threads — and with them the clock, the fan-out and the inbox — never wait behind a slow
agent. Here a batch of runs is prepared (one read), claimed a second before its moment
(one conditional UPDATE) while its connections are opened, called at the moment, and its
outcomes recorded by a group commit; the database work runs in threads, off the loop.
Nothing lives only here: a run this process holds but has not claimed is still a waiting
row, which the tick's sweep submits again if this process dies, and a claimed one has a
lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.agents.calls import Clients
from core.config import Settings
from core.running.attempts import EARLY_START, Attempt, Claims, Held, Prepared, call
from core.running.claims import claim_prepared, prepare
from core.running.executor import RunResult
from core.running.outcomes import record_outcomes
from core.running.queue import RunQueue
from core.store.models import Agent, Workflow, utcnow

# Runs prepared and claimed together: a due moment's thousand runs take two statements.
BATCH = 500
# A due group is claimed this long before its moment, as of the moment (its start and
# lease count from then): when the moment comes, only its calls are left to make.
CLAIM_AHEAD = timedelta(seconds=1)
# A stop waits this long beyond the call timeout: a group claimed before the stop opens its
# calls up to CLAIM_AHEAD after it, and their outcomes must still be written.
STOP_MARGIN_SECONDS = CLAIM_AHEAD.total_seconds() + 5.0
# Calls opened before the loop lets them connect: a thousand opened at once would each
# wait for all the others' set-up before the first request leaves.
WAVE = 20
# A run waiting for a free slot of its agent is tried again this often (sooner when a
# call to that agent ends in this process; a slot freed by another worker is seen here).
HOLD_SECONDS = 1.0
log = logging.getLogger("planner.flight")
Outcome = tuple[Prepared, Attempt, RunResult]


class Flight:
    """The calls of one worker process: accepted run ids, their slots, their outcomes."""

    def __init__(
        self, settings: Settings, queue: RunQueue, clock: Callable[[], datetime] = utcnow,
        told: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        """`told` is called once recorded outcomes queued messages to tell someone (the
        worker's outbox sends them then, not at its next tick)."""
        self.settings, self.queue, self.clock, self.told = settings, queue, clock, told
        self._lock = threading.Lock()
        self._ended: dict[int, threading.Event] = {}  # accepted here, not yet ended here
        # Runs submitted again while still here (retried by hand the moment their outcome
        # was committed, say): taken on again once this process is done with them.
        self._again: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._draining = False

    @property
    def accepting(self) -> bool:
        """Whether runs submitted now are started here: not once this process is stopping
        (they go back to the queue instead)."""
        return not self._draining

    # The worker's side: any thread.

    def submit(self, run_ids: Iterable[int]) -> list[threading.Event]:
        """Take these runs on (those already here are not taken twice); returns an event
        per run, set when this process is done with it or it waits for a free slot."""
        loop = self._start()
        wanted = list(dict.fromkeys(run_ids))
        with self._lock:
            fresh = [run_id for run_id in wanted if run_id not in self._ended]
            self._again.update(run_id for run_id in wanted if run_id in self._ended)
            events = [self._ended.setdefault(run_id, threading.Event()) for run_id in wanted]
        if fresh:
            loop.call_soon_threadsafe(self._accept, fresh)
        return events

    def run(self, run_ids: Iterable[int]) -> None:
        """Submit and wait until each run has ended here (or waits for its agent's free
        slot, which may be another worker's to give): for a caller that needs the outcome
        before it goes on, such as a test."""
        for ended in self.submit(run_ids):
            ended.wait()

    def drain(self, timeout: float | None = None) -> None:
        """Take nothing more; wait up to `timeout` (by default as long as a call claimed
        before this takes, and its record) for the open calls to end and be recorded.
        Runs not yet started go back to the queue for another worker."""
        if timeout is None:
            timeout = self.settings.http_timeout_seconds + STOP_MARGIN_SECONDS
        if self._loop is None or not self._loop.is_running():
            return
        finished = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
        try:
            finished.result(timeout)
        except TimeoutError:
            log.warning("calls still open after %s s; their leases will bring them back", timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Drain, then stop the event loop (a process that made its own Flight)."""
        self.drain(timeout)
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._serve, name="flight", daemon=True).start()
        self._started.wait()
        if not self._loop.is_running():
            raise RuntimeError("the worker's event loop could not start (see the log)")
        return self._loop

    def _forget(self, run_ids: Iterable[int]) -> None:
        """Done with these runs here; those submitted again meanwhile are taken on again
        (a claim of a run that is not waiting any more takes nothing)."""
        again = []
        with self._lock:
            for run_id in run_ids:
                ended = self._ended.pop(run_id, None)
                if ended is not None:
                    ended.set()
                if run_id in self._again:
                    self._again.discard(run_id)
                    again.append(run_id)
        if again:
            self.submit(again)

    def _let_waiters_go(self, run_ids: Iterable[int]) -> None:
        """Release threads waiting in `run` for these runs, which stay here."""
        with self._lock:
            for run_id in run_ids:
                if run_id in self._ended:
                    self._ended[run_id].set()

    # The loop's side.

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        settings = self.settings
        try:
            self._clients = Clients(
                settings.http_timeout_seconds, settings.max_in_flight, settings.outbound_allow
            )
            self._free = settings.max_in_flight
            self._backlog: deque[int] = deque()
            self._held: dict[str, deque[int]] = defaultdict(deque)  # by Held.key, oldest first
            self._limits: dict[str, int] = {}
            self._timers: set[str] = set()  # targets whose waiting runs have a timer
            self._outcomes: list[Outcome] = []
            self._tasks: set[asyncio.Task[Any]] = set()
            self._wake, self._recorded, self._idle = (asyncio.Event() for _ in range(3))
            self._recording = False
            self._opening = 0  # groups whose calls are being opened
            self._all_opened = asyncio.Event()
            self._all_opened.set()
            self._workers = [loop.create_task(self._pump()), loop.create_task(self._recorder())]
            loop.call_soon(self._started.set)  # once the loop runs
            loop.run_forever()
        except Exception:
            log.exception("the worker's event loop could not start")
        finally:
            self._started.set()
            loop.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._tasks and not self._outcomes and not self._recording:
            self._idle.set()

    def _accept(self, run_ids: list[int]) -> None:
        if self._draining:
            self._hand_back(run_ids)
            return
        self._backlog.extend(run_ids)
        self._wake.set()

    def _hand_back(self, run_ids: list[int]) -> None:
        """Runs this process will not start (it is stopping) go back to the queue, for
        another worker or this one's successor; failing that, the sweep finds them."""
        self._forget(run_ids)
        if run_ids:
            self._spawn(self._in_thread(self.queue.submit, run_ids))

    async def _in_thread(self, work: Callable[..., Any], *args: Any) -> None:
        try:
            await asyncio.to_thread(work, *args)
        except Exception:
            log.exception("%s failed; the tick's sweep makes up for it", work.__name__)

    async def _pump(self) -> None:
        """Hand the backlog out in batches, as far as free slots go."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog and self._free > 0 and not self._draining:
                count = min(self._free, BATCH, len(self._backlog))
                self._free -= count
                self._spawn(self._start_batch([self._backlog.popleft() for _ in range(count)]))

    async def _start_batch(self, run_ids: list[int]) -> None:
        """Prepare; a second before each due moment, claim; at the moment, open a call per
        claimed run. The batch holds a slot per run until its call is open (or it is not
        ours); once this process is stopping, the runs not claimed go back to the queue."""
        opened: set[int] = set()  # runs whose call is open: their slot is the call's
        held: set[int] = set()  # runs that wait for a free slot of their agent
        try:
            prepared = await asyncio.to_thread(prepare, self.settings, run_ids)
            now = self.clock()
            # A run due much later is an early duplicate message: its own is still to come.
            due = sorted(
                (p for p in prepared if p.run.due_at - now <= EARLY_START),
                key=lambda p: p.run.due_at,
            )
            kept = {p.run.id for p in due}
            self._forget(run_id for run_id in run_ids if run_id not in kept)
            while due:
                await self._sleep_until(due[0].run.due_at - CLAIM_AHEAD)
                if self._draining:
                    self._hand_back([p.run.id for p in due])
                    break
                moment = max(self.clock(), due[0].run.due_at)
                group = [p for p in due if p.run.due_at <= moment]
                due = due[len(group) :]
                await self._claim_and_call(group, moment, opened, held)
        except Exception:
            log.exception("runs could not be started; the sweep submits them again")
            self._forget(run_id for run_id in run_ids if run_id not in opened | held)
        finally:
            self._free += len(run_ids) - len(opened)
            self._wake.set()

    async def _sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _claim_and_call(
        self, group: Sequence[Prepared], moment: datetime, opened: set[int], held: set[int]
    ) -> None:
        """Claim `group` ahead of its moment and open its connections meanwhile; at the
        moment, open a call per run taken, then claim the rest as of now (whether the
        previous run ended, a slot freed, the automation was paused is decided at the moment)."""
        if moment > self.clock():
            claims = await self._claim(group, moment, held, ahead=True)
            targets = [p.target for p, _ in claims.attempts if p.target is not None]
            self._spawn(self._open_ahead(targets, moment))
            await self._sleep_until(moment)
            await self._open_calls(claims.attempts, opened)
            group = claims.undecided
        if group:
            claims = await self._claim(group, self.clock(), held)
            await self._open_calls(claims.attempts, opened)

    async def _claim(
        self, group: Sequence[Prepared], moment: datetime, held: set[int], ahead: bool = False
    ) -> Claims:
        """Claim `group` (core.running.claims.claim); hold the runs that wait for a slot, forget
        those that are not this process's to start."""
        claims = await asyncio.to_thread(claim_prepared, self.settings, group, moment, ahead)
        self._hold(claims.waiting)
        held.update(h.prepared.run.id for h in claims.waiting)
        kept = {p.run.id for p, _ in claims.attempts} | held | {p.run.id for p in claims.undecided}
        self._forget(p.run.id for p in group if p.run.id not in kept)
        return claims

    async def _open_calls(
        self, attempts: Sequence[tuple[Prepared, Attempt]], opened: set[int]
    ) -> None:
        """A call per attempt, opened in waves; outcomes wait to be recorded meanwhile."""
        self._opening += 1
        self._all_opened.clear()
        try:
            for wave, (prepared, attempt) in enumerate(attempts):
                opened.add(prepared.run.id)
                self._spawn(self._call(prepared, attempt))
                if wave % WAVE == WAVE - 1:
                    await asyncio.sleep(0)  # let the calls opened so far connect and send
        finally:
            self._opening -= 1
            if not self._opening:
                self._all_opened.set()

    async def _open_ahead(self, targets: list[Agent | Workflow], moment: datetime) -> None:
        """Connections for the moment's calls, opened until the moment: a call whose
        connection is not open by then opens it itself."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout((moment - self.clock()).total_seconds()):
                await self._clients.open_ahead(targets)

    def _hold(self, waiting: Sequence[Held]) -> None:
        """Keep runs that wait for their agent's free slot or for the previous run of
        their job or trigger, and try them again soon."""
        if self._draining:
            self._hand_back([h.prepared.run.id for h in waiting])
            return
        for held in waiting:
            self._held[held.key].append(held.prepared.run.id)
            self._limits[held.key] = held.limit
            self._keep_trying(held.key)
        self._let_waiters_go(h.prepared.run.id for h in waiting)

    def _keep_trying(self, key: str) -> None:
        if key not in self._timers:
            self._timers.add(key)
            asyncio.get_running_loop().call_later(HOLD_SECONDS, self._on_timer, key)

    def _on_timer(self, key: str) -> None:
        self._timers.discard(key)
        self._unhold(key)
        if self._held.get(key):
            self._keep_trying(key)

    def _unhold(self, key: str) -> None:
        """Try again as many of the target's waiting runs as it could take at once (the
        rest wait their turn instead of being read and refused every second)."""
        held = self._held.pop(key, deque())
        self._accept([held.popleft() for _ in range(min(len(held), self._limits[key]))])
        if held:
            self._held[key] = held

    async def _call(self, prepared: Prepared, attempt: Attempt) -> None:
        try:
            result = await call(prepared, self._clients.next())
        finally:
            self._free += 1
            self._wake.set()
        self._outcomes.append((prepared, attempt, result))
        self._recorded.set()

    async def _recorder(self) -> None:
        """Record outcomes as they come, each group in one commit: while one commit is
        written, the next group gathers."""
        while True:
            await self._recorded.wait()
            # Recording waits while calls are being opened: the threads writing outcomes
            # would take their share of the one core that opens the calls.
            await self._all_opened.wait()
            self._recorded.clear()
            while self._outcomes:
                group, self._outcomes = self._outcomes, []
                self._recording = True
                retries: dict[int, datetime] = {}
                try:
                    outcomes = [(attempt, result) for _, attempt, result in group]
                    recorded = await asyncio.to_thread(
                        record_outcomes, self.settings, outcomes, self.clock()
                    )
                    retries = recorded.retries
                    if recorded.told:
                        self.told()
                except Exception:
                    log.exception("outcomes not recorded; the runs' leases bring them back")
                finally:
                    self._recording = False
                self._forget(prepared.run.id for prepared, _, _ in group)
                for run_id, retry_at in retries.items():
                    self._spawn(self._in_thread(self.queue.submit, [run_id], retry_at))
                ended = {key for p, _, _ in group for key in (p.target_key, p.automation_tag)}
                for key in ended & set(self._held):
                    self._unhold(key)
            self._check_idle()

    async def _stop(self) -> None:
        """Cancel whatever is left (after a drain that timed out), close the clients."""
        tasks = [*self._workers, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._clients.aclose()
        await asyncio.get_running_loop().shutdown_default_executor()

    async def _drain(self) -> None:
        self._draining = True
        if self._tasks:
            log.info("stopping: waiting for the calls in flight to end and be recorded")
        waiting = [*self._backlog, *(run_id for ids in self._held.values() for run_id in ids)]
        self._backlog.clear()
        self._held.clear()
        self._hand_back(waiting)
        self._check_idle()
        await self._idle.wait()
