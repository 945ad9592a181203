"""The run skeleton: `Run`, with how a loop counts (`LoopCounter`) and its budget (`resolve_budget`).

`Run` is the skeleton every loop (pretrain, adapt, cotrain, offline) runs on: it resolves a run (a new one, or the
saved config of a resumed one) without writing anything, lets the loop build and restore its state, then creates or
reopens the directory and schedules logging, evaluation and checkpoints around the loop's own act/step/store/update
code.

The pieces it puts together are modules of their own: the run directory (`daftrl.rundir`), the configs as JSON
(`daftrl.configs`), the monitor, progress bar, graceful stop and divergence checks (`daftrl.monitor`) and the
provenance (`daftrl.provenance`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

from daftrl import trackers
from daftrl.checkpoint import CheckpointError, load_arrays, save_arrays
from daftrl.configs import RENAMED_OPTIONS, config_from_dict, config_to_dict
from daftrl.monitor import Monitor, check_finite_state, graceful_stop
from daftrl.rundir import RunDir, RunDirError, check_run_kind, check_writable


class LoopCounter(NamedTuple):
    """How a loop counts: its iterations are checkpointed under meta[`key`], named `name` in messages, and
    `per_step` of them make one logged step (cotrain: source steps per target step)."""

    key: str = "step"
    name: str = "step"
    per_step: int = 1


def resolve_budget(cfg, saved=None):
    """`cfg.resolved(saved)` where a run config turns its own budget flags into `steps` (cotrain's --source-steps,
    counted with the saved run's --target-every on resume); the config itself otherwise."""
    resolve = getattr(cfg, "resolved", None)
    return resolve(saved) if resolve else cfg


class Run:
    """The skeleton of a training loop: run directory, resume, schedule, checkpoints, monitor and stop.

    A loop uses it in three phases; the first two write nothing, so bad input leaves no directory behind::

        run = Run(cfg, "adapt", 100_000, extra_config)  # new, or resume: lock, saved config
        cfg = run.cfg                       # build envs and learner from it: this validates the task, expert...
        if run.resumed:
            arrays, meta = run.checkpoint_data()            # restore the loop's state from them
        with run.start("daft hopper-big-head", total, save, evaluate, learner="state/"):  # create or reopen
            step = run.step                                 # 0, or where the checkpoint stands
            while step < total and not run.stop:
                ... act, env step, store, update ...
                step += 1
                run.tick(step, info, train_fields)          # log, evaluate, checkpoint when due
        return run.result(task=..., method=...)             # result.json: finished or interrupted

    `save()` returns the arrays and meta of everything the loop needs to continue; the skeleton adds the
    counter, wall time and best evaluation, refuses a learner (arrays under `learner`) that is not finite, and
    writes the checkpoint every `checkpoint_every` steps and at the end or at a Ctrl-C/SIGTERM stop (unless
    the checkpoint already holds that point). `evaluate(step)` returns (EvalResult, extra row fields)."""

    def __init__(self, cfg, kind: str, default_steps: int, extra_config: dict | None = None):
        """Resolve the run, writing nothing: check that the trackers of `cfg.logger` are installed; with --resume,
        lock the directory, check that its checkpoint is a `kind` run (`daftrl {kind}`) and take its saved config
        (the budget `steps` and the trackers `logger` may change); otherwise only check that the directory can be
        created. `cfg.run_dir` defaults to `cfg.default_run_dir()`; the keys of
        `extra_config` are stored in config.json beside the run options (e.g. "method_config")."""
        trackers.require(cfg.logger, bool(cfg.resume))  # not installed: name the extra, before writing anything
        self.kind = kind
        self.path = Path(cfg.run_dir or cfg.default_run_dir()).expanduser()
        self.resumed = bool(cfg.resume)
        self.dir: RunDir | None = None
        self.it, self.saved_at, self._meta = 0, None, None
        if not self.resumed:
            check_writable(self.path)
            cfg = resolve_budget(cfg)
            self.cfg = dataclasses.replace(cfg, steps=cfg.steps if cfg.steps is not None else default_steps,
                                           run_dir=str(self.path))
            self.config = {**config_to_dict(self.cfg), **(extra_config or {})}
            return
        if not (self.path / "checkpoint.safetensors").is_file():
            raise CheckpointError(f"--resume given but {self.path / 'checkpoint.safetensors'} does not exist; start "
                                  "without --resume (or check --run-dir)")
        check_writable(self.path)
        self.dir = RunDir(self.path)
        self.dir.lock()
        check_run_kind(self.dir.checkpoint, kind)
        saved_dict = self.dir.read_config()
        try:
            saved = config_from_dict(type(cfg), saved_dict, extra=extra_config or ())
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{self.dir.config_path} does not match the {kind} options of this daftrl version "
                                  f"({type(e).__name__}: {e}); resume with the version that started the run (its "
                                  "commit is under provenance in that file)") from None
        cfg = resolve_budget(cfg, saved)
        steps = cfg.steps if cfg.steps is not None else saved.steps
        self.cfg = dataclasses.replace(saved, steps=steps, resume=True, run_dir=str(self.path),
                                       logger=cfg.logger)
        # config.json keeps the budget and trackers of the latest start (a `--resume` alone logs to them again),
        # under their current names
        self.config = {**{k: v for k, v in saved_dict.items() if k not in RENAMED_OPTIONS}, "steps": steps,
                       "logger": list(cfg.logger)}

    def checkpoint_data(self) -> tuple[dict, dict]:
        """(arrays, meta) of the checkpoint a resumed run continues from, verified."""
        arrays, self._meta = load_arrays(self.dir.checkpoint, kind=self.kind)
        return arrays, self._meta

    def create(self) -> RunDir:
        """The directory of a new run: created and locked; refused if it holds an earlier run's checkpoint or logs
        (nothing is deleted); config.json written."""
        try:
            run = RunDir(self.path)
            run.lock()
        except OSError as e:
            raise RunDirError(f"cannot create the run directory {self.path}: {e.strerror or e}") from None
        if run.has_checkpoint():
            raise FileExistsError(f"{run.path} already holds a run; pass --resume to continue it or --run-dir for "
                                  "a new one")
        earlier = run.partial_files()
        if earlier:
            raise FileExistsError(f"{run.path} holds an earlier run's {', '.join(earlier)} but no checkpoint to "
                                  "continue from; delete them (or the directory) to start over there, or pass "
                                  "another --run-dir")
        run.write_config(self.config)
        self.dir = run
        return run

    # ------------------------------------------------------------------ the loop
    def start(self, description: str, total: int, save: Callable[[], tuple[dict, dict]],
              evaluate: Callable[[int], tuple[Any, dict]], learner: str, counter: LoopCounter | None = None,
              eval_at_start: bool = False, quiet: bool = False) -> Run:
        """Create the directory (a new run) or drop the log rows past the checkpoint and record the resume; then,
        as a context manager, the monitor and the graceful stop. `total` is in steps; `eval_at_start`: evaluate
        at step 0 (the zero-shot return) when the run starts there."""
        self.description, self.total, self.save, self.evaluate = description, total, save, evaluate
        self.learner, self.counter, self.eval_at_start = learner, counter or LoopCounter(), eval_at_start
        wall_before, best = 0.0, None
        if self.resumed:
            if self._meta is None:
                raise RuntimeError("Run.start: a resumed loop restores from checkpoint_data() first")
            self.it = self.saved_at = self._meta[self.counter.key]
            wall_before, best = self._meta["wall_time"], self._meta["best"]
            self.dir.truncate_logs(self.step)
            self.dir.record_resume(self.config)
        else:
            self.create()
        self.monitor = Monitor(self.dir, description, total, self.step, wall_before, best, self.cfg.logger,
                               quiet, self.kind)
        return self

    def __enter__(self) -> Run:
        with ExitStack() as stack:
            self.stop = stack.enter_context(graceful_stop())
            stack.enter_context(self.monitor)
            if self.eval_at_start and self.it == 0:
                self._evaluate(0)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None and self.saved_at != self.it:
                self.checkpoint()
        except BaseException as e:
            self._stack.__exit__(type(e), e, e.__traceback__)
            raise
        return self._stack.__exit__(exc_type, exc, tb)

    @property
    def step(self) -> int:
        return self.it // self.counter.per_step

    def tick(self, it: int, info: dict | None, train_fields: Callable[[], dict]) -> None:
        """Call after every loop iteration (`it` of them done): at each step, logs a training row (the losses
        `info` and `train_fields()`) every `log_every` steps, evaluates every `eval_every` steps and at the last
        one, checkpoints every `checkpoint_every` steps."""
        self.it = it
        if it % self.counter.per_step:
            return
        step, cfg = it // self.counter.per_step, self.cfg
        if step % cfg.log_every == 0:
            self.monitor.train(step, info, **train_fields())
        if step % cfg.eval_every == 0 or step == self.total:
            self._evaluate(step)
        if step % cfg.checkpoint_every == 0:
            self.checkpoint()

    def _evaluate(self, step: int) -> None:
        result, fields = self.evaluate(step)
        self.monitor.evaluation(step, result, **fields)

    def checkpoint(self) -> None:
        """Write the loop's state now (never a learner that is not finite: TrainingDiverged instead)."""
        arrays, meta = self.save()
        check_finite_state(arrays, self.learner, f"{self.description} at {self.counter.name} {self.it:,}")
        meta = {self.counter.key: self.it, **meta, "wall_time": self.monitor.wall_time(), "best": self.monitor.best}
        save_arrays(self.dir.checkpoint, arrays, kind=self.kind, meta=meta)
        self.saved_at = self.it

    # ------------------------------------------------------------------ the end
    def first_return(self) -> float | None:
        """The mean return of the first evaluation (step 0: the zero-shot or initial return)."""
        evals = self.dir.rows("eval")
        return evals[0]["return_mean"] if evals else None

    def result(self, **fields) -> dict:
        """result.json (also returned): "interrupted" after a Ctrl-C/SIGTERM stop, else "finished" with `fields`."""
        if self.stop:
            return self.monitor.stopped(self.stop.signal, self.step)
        return self.monitor.finish(self.step, **fields)
