"""`daftrl demo` / `make demo`: adapt a bundled expert to a broken robot in a few minutes.

Writes `runs/demo/` (in the current directory): the run's logs, `learning_curve.png` and
`summary.md` (with `--video`, also `zero-shot-vs-adapted.mp4`: the expert before and after adaptation, side by side
in the target domain), and prints the zero-shot and adapted returns. A second demo replaces an earlier demo's
directory; any other existing, non-empty `--out` is refused (nothing is deleted).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path


@dataclasses.dataclass
class DemoArgs:
    """Adapt the bundled expert of the task's robot with one method for a short budget."""

    task: str = "halfcheetah-broken-back-thigh"
    method: str = "daft"
    steps: int = 20_000
    """Target steps (about 5 minutes on 2 cores for HalfCheetah)."""
    eval_every: int = 2_000
    eval_episodes: int = 5
    seed: int = 0
    out: str = "runs/demo"
    """Output directory: new, empty, or an earlier demo's (which is replaced)."""
    video: bool = False
    """Also film the expert before (zero-shot) and after adaptation side by side in the target domain, from the
    same start, into zero-shot-vs-adapted.mp4 (10 s; headless: needs EGL or OSMesa, `make render-deps`)."""


VIDEO = "zero-shot-vs-adapted.mp4"

MARKER = ".daftrl-demo"
"""Written first into the demo's directory: only a directory holding it (or an empty one) is replaced."""


def is_demo_dir(path: Path) -> bool:
    """True for an empty directory or one a demo wrote (also an interrupted demo's, and a finished one of a
    daftrl version before the marker, by its summary.md); False for anything else, which must not be deleted."""
    if not path.is_dir():
        return False
    summary = path / "summary.md"
    old_demo = summary.is_file() and summary.read_text(errors="replace").startswith("# daftrl demo")
    return (path / MARKER).is_file() or old_demo or not any(path.iterdir())


def run_demo(args: DemoArgs) -> dict:
    from daftrl import zoo
    from daftrl.algos import method_spec
    from daftrl.envs import get_task
    from daftrl.experiments import plots
    from daftrl.loops import AdaptRunConfig, adapt
    from daftrl.rundir import RunDir

    robot = get_task(args.task).robot
    if not zoo.has(robot):
        raise ValueError(f"no bundled expert for {robot!r} yet (bundled: {', '.join(zoo.names()) or 'none'}); "
                         f"pick a task of a bundled robot, or pretrain one: docs/zoo.md")
    method_spec(args.method, "adapt")  # an unknown method fails here, before anything on disk changes
    if args.video:
        from daftrl.envs.render import check_headless_gl

        check_headless_gl()  # and so does a machine that cannot film
    cfg = AdaptRunConfig(task=args.task, method=args.method, expert=robot, steps=args.steps, seed=args.seed,
                         eval_every=args.eval_every, eval_episodes=args.eval_episodes, run_dir=args.out)
    out = Path(args.out)
    if out.exists():
        if not is_demo_dir(out):
            raise FileExistsError(f"--out {out} exists and is not an earlier demo's directory; pass another "
                                  "--out (the demo replaces only a directory it wrote)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `daftrl demo`, which replaces this directory when run again\n")
    result = adapt(cfg)
    if result["status"] != "finished":  # Ctrl-C/SIGTERM: no summary of a run that did not happen
        return {**result, "out": str(out)}
    rows = RunDir(out).rows("eval")
    plots.demo_curve(out / "learning_curve.png", f"{args.method} on {args.task}", [r["step"] for r in rows],
                     [r["return_mean"] for r in rows], [r["return_std"] for r in rows])
    zero, final = rows[0]["return_mean"], rows[-1]["return_mean"]
    src = zoo.card(robot)["source_return"]
    video_flag = " --video" if args.video else ""
    summary = f"""# daftrl demo: {args.method} on {args.task}

| | return (mean ± std over {args.eval_episodes} episodes) |
|---|---|
| expert in its source domain (zoo card) | {src['return_mean']:,.1f} ± {src['return_std']:,.1f} |
| zero-shot in the target domain | {zero:,.1f} ± {rows[0]['return_std']:,.1f} |
| after {args.steps:,} target steps of {args.method} | {final:,.1f} ± {rows[-1]['return_std']:,.1f} |

Wall time {result['wall_time'] / 60:.1f} min. Learning curve: `learning_curve.png`; logs: `metrics.jsonl`,
`eval.csv`. Reproduce: `daftrl demo --task {args.task} --method {args.method} --steps {args.steps}{video_flag}`.
"""
    (out / "summary.md").write_text(summary)  # first without the video, so a failed recording loses nothing
    video = record_before_after(args, out / VIDEO) if args.video else None
    if video:
        (out / "summary.md").write_text(
            f"{summary}\nVideo: [{VIDEO}]({VIDEO}), the zero-shot expert (left) and the adapted policy (right) from "
            f"the same start in the target domain ({video['frames']} frames, {video['fps']:g} fps).\n")
    return {"status": "finished", "zero_shot": zero, "adapted": final, "out": str(out),
            "wall_time": result["wall_time"], **({"video": video} if video else {})}


def record_before_after(args: DemoArgs, path: Path) -> dict:
    """The demo's video: the bundled expert (zero-shot) and the adapted policy of the run in `args.out`, side by
    side in the task's target domain from the first evaluation episode's start (`daftrl.video.record`)."""
    from daftrl import zoo
    from daftrl.envs import get_task
    from daftrl.envs.render import caption, render_env
    from daftrl.policy import load_policy
    from daftrl.video import Panel, record

    task = get_task(args.task)
    expert, _ = load_policy(zoo.expert_path(task.robot))
    adapted, _ = load_policy(args.out)

    def target():
        return render_env(task, "target", 320, 240)

    panels = [Panel("zero-shot expert", target, expert.deterministic),
              Panel(f"{args.method}, {args.steps:,} target steps", target, adapted.deterministic)]
    return record(panels, path, caption(task), args.seed, batch=args.eval_episodes)


def run(args: DemoArgs) -> int:
    """`daftrl demo`: run it, print its outcome (on stderr if it was stopped); the exit code."""
    import sys

    from daftrl.run_summary import exit_code

    res = run_demo(args)
    print(outcome(res, args), file=sys.stdout if res["status"] == "finished" else sys.stderr)
    return exit_code(res)


def outcome(res: dict, args: DemoArgs) -> str:
    """What `daftrl demo` prints when `run_demo` returns: the two returns, or how to continue a stopped demo."""
    if res["status"] != "finished":
        return (f"demo interrupted at step {res['step']:,}: continue it with `daftrl adapt --resume --run-dir "
                f"{res['out']}`, or run the demo again to start over")
    where = (f"learning curve, summary and video in {res['out']}/ (learning_curve.png, summary.md, {VIDEO})"
             if "video" in res else f"learning curve and summary in {res['out']}/ (learning_curve.png, summary.md)")
    return (f"\nzero-shot return {res['zero_shot']:,.1f} -> adapted {res['adapted']:,.1f} ({args.method}, "
            f"{args.steps:,} target steps, {res['wall_time'] / 60:.1f} min)\n{where}")
