"""How `daftrl pretrain|adapt|cotrain|offline|demo` end, from the result dict of their loop: the line a finished run
prints and the exit code."""

from __future__ import annotations


def exit_code(result: dict) -> int:
    """0 for a finished run; 128 + the signal number for a run stopped (and checkpointed) by Ctrl-C or
    SIGTERM (130, 143: the shell's convention), so scripts can tell a finished run from one to resume."""
    import signal

    if result.get("status") != "interrupted":
        return 0
    return 128 + int(getattr(signal, result.get("signal") or "", signal.SIGTERM))



def finished_line(kind: str, result: dict) -> str:
    """'done: ...' for a `kind` run: the final evaluation, the steps, the wall time and the run directory."""
    ev, minutes, run_dir = result["final_eval"], result["wall_time"] / 60, result["run_dir"]
    final = f"{ev['return_mean']:,.1f} ± {ev['return_std']:,.1f}"
    if kind == "pretrain":
        return f"done: {result['steps']:,} steps in {minutes:.1f} min; final eval {final}; run dir {run_dir}"
    if kind == "adapt":
        return (f"done: {result['method']} on {result['task']}: zero-shot {result['zero_shot']:,.1f} -> {final} "
                f"after {result['steps']:,} target steps ({minutes:.1f} min); run dir {run_dir}")
    if kind == "offline":
        expert = f"; expert {result['expert']}" if result.get("expert") else ""
        return (f"done: {result['method']} on {result['dataset']}: {final} in {result['env']} after "
                f"{result['steps']:,} updates ({minutes:.1f} min); run dir {run_dir}{expert}")
    if result.get("dataset"):  # co-training from an offline source
        return (f"done: {result['method']} on {result['task']} from {result['dataset']}: {final} after "
                f"{result['steps']:,} target steps and {result['updates']:,} updates ({minutes:.1f} min); run dir "
                f"{run_dir}")
    return (f"done: {result['method']} on {result['task']}: {final} after {result['steps']:,} target + "
            f"{result['source_steps']:,} source steps ({minutes:.1f} min); run dir {run_dir}")
