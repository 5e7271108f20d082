"""The evaluation service (`python -m eval scheduler`): runs the evaluations the Reports page starts or
schedules (records/schedule.py). Any number may run, on any host sharing the app's database: each run is
claimed by one. Reports go to a new folder under `out_root` and into the eval history, as with `eval run`."""

import logging
import os
import socket
import threading
import uuid
from datetime import datetime
from pathlib import Path

from eval.runs import RunError, evaluate, redteam
from rag.settings import Settings
from records.schedule import ALIVE_S, EvalRequest, EvalSchedule

log = logging.getLogger(__name__)


class EvaluationService:
    def __init__(self, settings: Settings, out_root: Path, poll_s: float = 5.0) -> None:
        self.settings = settings
        self.out_root = out_root
        self.poll_s = poll_s
        self.schedule = EvalSchedule(settings.database)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def tick(self) -> EvalRequest | None:
        """Say it is alive, request the scheduled run when due, and run the oldest requested one; what it ran."""
        self.schedule.beat(self.id)
        if (fired := self.schedule.fire_if_due()) is not None:
            log.info("scheduled evaluation due", extra={"request": fired})
        request = self.schedule.claim(self.id)
        if request is not None:
            running = threading.Event()
            beating = threading.Thread(target=self._beat_until, args=(running,), daemon=True)
            beating.start()
            try:
                self.run(request)
            finally:
                running.set()
                beating.join()
        return request

    def _beat_until(self, finished: threading.Event) -> None:
        """Keep saying it is alive while a run takes its time (or another service would fail the run)."""
        while not finished.wait(ALIVE_S / 4):
            try:
                self.schedule.beat(self.id)
            except Exception:  # a missed beat is retried at the next one
                log.warning("evaluation service: heartbeat failed", exc_info=True)

    def run(self, request: EvalRequest) -> None:
        folder = self.out_root / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{request.id}"
        try:
            report = evaluate(self.settings, Path(request.set_path), folder, request.judge, None)
            if request.redteam:
                redteam(self.settings, None, None, folder / "redteam")
        except RunError as err:  # a missing or broken set: the page shows why
            self.schedule.finish(request.id, "failed", str(err))
            return
        except Exception as err:  # the service lives on; the page shows why this run failed
            log.exception("evaluation failed", extra={"request": request.id})
            self.schedule.finish(request.id, "failed", f"unexpected error ({type(err).__name__}: {err})")
            return
        summary = ", ".join(f"{k} {v}" for k, v in report["summary"].items() if isinstance(v, int | float))
        self.schedule.finish(request.id, "done", summary, report["run_id"], folder)
        log.info("evaluation done", extra={"request": request.id, "run_id": report["run_id"]})

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ran = self.tick()
            except Exception:  # the database went away for a while: try again
                log.exception("evaluation service: error outside a run")
                ran = None
            if ran is None:
                stop.wait(self.poll_s)
