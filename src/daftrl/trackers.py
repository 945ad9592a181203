"""Experiment trackers a run also logs to: `--logger tensorboard` and `--logger wandb` (docs/training.md, "Logging").

metrics.jsonl and eval.csv stay the record of a run (`daftrl.rundir`); a tracker gets a copy of their rows: every
number of every training and evaluation row, as `train/<key>` and `eval/<key>`, at the row's step (environment
steps for pretrain, target steps for adapt and cotrain, updates for offline). `require` checks that the trackers
asked for are installed before a run creates anything; `open_trackers` starts them once its directory exists.
Importing this module imports neither TensorBoard nor W&B.
"""

from __future__ import annotations

import importlib
import json
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Literal

from daftrl.checkpoint import atomic_write_json, daftrl_home

Tracker = Literal["tensorboard", "wandb"]
"""An experiment tracker a loop can also log to (`--logger`); metrics.jsonl and eval.csv are always written."""
MODULES = {"tensorboard": "tensorboardX", "wandb": "wandb"}
"""The package each tracker writes with; the daftrl extra that installs it has the tracker's name."""
WANDB_RUN_FILE = "wandb.json"
"""The W&B run of a run directory (id, project, entity): a resume continues that W&B run."""


class TrackerUnavailable(ImportError, ValueError):
    """A --logger whose package is not installed. Also a ValueError: the command line reports it in one line
    (exit code 2), like any other bad input."""


class TrackerFailed(ValueError):
    """A tracker that could not start (e.g. W&B online without credentials); the run has logged nothing yet."""


def require(names: Iterable[str], resumed: bool = False) -> None:
    """TrackerUnavailable naming the extra to install unless every tracker in `names` can be imported; a run calls
    it before it writes anything. `resumed`: the trackers may be the run's own (a `--resume` logs to them unless
    told otherwise), so the message also says how to resume without them."""
    for name in names:
        module = MODULES[name]
        try:
            importlib.import_module(module)
        except ImportError as e:
            missing = isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == module
            why = "which is not installed" if missing else f"which cannot be imported ({e})"
            hint = " (or resume with --logger naming the trackers to keep, none: --logger alone)" if resumed else ""
            raise TrackerUnavailable(f"--logger {name} needs {module}, {why}: pip install 'daftrl[{name}]'{hint}",
                                     name=module) from None


def scalars(row: dict) -> dict[str, float]:
    """The numbers of a metrics row, its kind and step aside (lists, strings, None and booleans are left out)."""
    return {k: float(v) for k, v in row.items()
            if k not in ("kind", "step") and isinstance(v, numbers.Real) and not isinstance(v, bool)}


class ScalarTracker(ABC):
    """Where a run's rows are copied: `log` one row's numbers at a step, `close` at the end."""

    name: str

    @abstractmethod
    def log(self, kind: str, values: dict[str, float], step: int) -> None:
        """Record `values` (a `kind` row: "train" or "eval") at `step`."""

    @abstractmethod
    def close(self, failed: bool) -> None:
        """Flush and close; `failed`: the loop ended with an exception."""


class TensorBoardTracker(ScalarTracker):
    """Event files in `<run_dir>/tb` (tensorboardX), read by `tensorboard --logdir`."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, step: int):
        from tensorboardX import SummaryWriter

        # A resumed run starts after its checkpoint at `step`, whose rows were logged before it was written; a crash
        # may have logged more rows past it, which the resumed run logs again. purge_step makes TensorBoard drop the
        # earlier writers' events from `step + 1` on, so each step shows once.
        # The suffix keeps two writers started within one second (the file name's clock) from sharing a file.
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=step + 1 if step else None,
                                    filename_suffix=f".{os.getpid()}.{step}")

    def log(self, kind: str, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"{kind}/{key}", value, step)

    def close(self, failed: bool) -> None:
        self.writer.close()


def run_name(run_dir: Path) -> str:
    """A run's name in a tracker: its directory relative to $DAFTRL_HOME/runs (adapt/hopper-big-head/daft-s0) or to
    $DAFTRL_HOME (grid/...), else the directory's own name."""
    path, home = run_dir.resolve(), daftrl_home().resolve()
    for root in (home / "runs", home):
        if path.is_relative_to(root) and path != root:
            return path.relative_to(root).as_posix()
    return path.name


class WandbTracker(ScalarTracker):
    """A W&B run named after the run directory, its config that of config.json (run options, method options,
    provenance, resumes). Its id is kept in `<run_dir>/wandb.json`, so a resumed run continues the same W&B run.

    Steps: every row is logged with its step as the metric `step`, the x-axis of every `train/*` and `eval/*` chart
    (`define_metric`), never as W&B's own step, which must only grow: a run resumed after a crash starts again after
    its checkpoint, and the rows the crashed process had logged past it stay in the W&B history beside the new ones.
    W&B's local files go to $WANDB_DIR if set, else to `<run_dir>/wandb`."""

    name = "wandb"

    def __init__(self, run_dir: Path, kind: str, config: dict, quiet: bool):
        import wandb

        saved_file = run_dir / WANDB_RUN_FILE
        saved = json.loads(saved_file.read_text()) if saved_file.is_file() else None
        try:
            self.run = wandb.init(
                project=saved["project"] if saved else os.environ.get("WANDB_PROJECT") or "daftrl",
                entity=(saved or {}).get("entity") or None,  # else WANDB_ENTITY or the account's default
                id=saved["id"] if saved else None,
                resume="allow" if saved else None,
                name=run_name(run_dir), job_type=kind, config=config,
                dir=None if os.environ.get("WANDB_DIR") else str(run_dir),
                reinit="create_new",  # a process may run several runs (daftrl grid's serial executor)
                # console: leave the progress bar alone; silent: as quiet as the run (else W&B's or WANDB_SILENT)
                settings=wandb.Settings(console="off", **({"silent": True} if quiet else {})))
        except Exception as e:  # noqa: BLE001 - W&B raises many kinds (no credentials, network, bad entity)
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TrackerFailed(f"--logger wandb could not start a W&B run ({reason}); nothing was logged: fix that "
                                "(`wandb login`, or WANDB_MODE=offline to log locally) or drop --logger wandb, then "
                                "run the same command again") from e
        self.run.define_metric("step")
        for prefix in ("train", "eval"):
            self.run.define_metric(f"{prefix}/*", step_metric="step")
        if saved is None and not self.run.disabled:
            atomic_write_json(saved_file, {"id": self.run.id, "project": self.run.project,
                                           "entity": self.run.entity or None})

    def log(self, kind: str, values: dict[str, float], step: int) -> None:
        self.run.log({"step": step, **{f"{kind}/{key}": value for key, value in values.items()}})

    def close(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)


def open_trackers(names: Iterable[str], run_dir: Path, kind: str, step: int, config: dict,
                  quiet: bool = False) -> list[ScalarTracker]:
    """Start the trackers `names` for a `kind` run in `run_dir` that continues from `step` (0 for a new run);
    `config` is what W&B shows as the run's config. W&B starts first: it is the one that may fail (no credentials,
    no network: TrackerFailed), and then neither tb/ nor wandb.json exists yet, so the same command can run again.
    A tracker that cannot start closes those already started."""
    opened: list[ScalarTracker] = []
    try:
        for name in dict.fromkeys(sorted(names, key=lambda n: n != "wandb")):
            if name == "wandb":
                opened.append(WandbTracker(run_dir, kind, config, quiet))
            else:
                opened.append(TensorBoardTracker(run_dir, step))
    except BaseException:
        for tracker in opened:
            with suppress(Exception):  # the error to report is the one that stopped the start
                tracker.close(failed=True)
        raise
    return opened
