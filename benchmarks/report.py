"""Render docs/benchmarks.md from the committed JSON results (numbers are never typed by hand).

    python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _load(name: str):
    p = RESULTS / name
    if not p.exists():
        return None
    r = json.loads(p.read_text())
    return r


def _prov(r: dict) -> str:
    """One line of provenance; the command was made portable when the benchmark wrote it
    (`daftrl.provenance.portable`)."""
    p = r["provenance"]
    exe = p["command"].split(" ", 1)[0]
    command = f"python {p['command']}" if exe.endswith(".py") else p["command"]
    return (f"commit `{p['git_commit'][:12]}`, {p['date']}, {p['machine']['cpu']} ({p['machine']['cores']} cores), "
            f"jax {p['versions'].get('jax')}; command `{command}`")


def sac_section(r: dict) -> list[str]:
    e2e, peak = r["end_to_end"], r["matmul_gflops"]
    out = [f"### SAC core, end-to-end batch {e2e['batch_size']} ({_prov(r)})", "",
           "| | value |", "|---|---|",
           f"| matmul peak (2048^3 GEMM / chained 256-wide) | {peak['gemm2048']:.0f} / {peak['chain256']:.0f} "
           "GFLOP/s |"]
    for u in r["update"]:
        out.append(f"| SAC update, batch {u['batch_size']} | {u['updates_per_s']:.0f} updates/s, "
                   f"{u['mflop_per_update']:.0f} MFLOP/update (XLA), {u['gflops']:.0f} GFLOP/s = "
                   f"{100 * u['fraction_of_peak']:.0f} % of the measured peak |")
    for impl, rate in e2e["steps_per_s"].items():
        out.append(f"| end-to-end HalfCheetah-v5, UTD 1: {impl} | {rate:.0f} env steps/s (median of "
                   f"{len(e2e['all'][impl])} interleaved rounds) |")
    for k, v in e2e.get("ratios", {}).items():
        out.append(f"| ratio {k} | {v:.2f}x |")
    return out + [""]


def adapt_section(r: dict) -> list[str]:
    u = r["update"]
    fl = u.get("flops_vs_ft") or {}
    out = [f"### Adaptation methods ({_prov(r)})", "",
           "| method | updates/s (batch 128) | cost vs FT | FLOPs vs FT (XLA cost analysis) |", "|---|---|---|---|"]
    for m, v in u["updates_per_s"].items():
        out.append(f"| {m} | {v:.0f} | {u['cost_vs_ft'][m]:.2f}x | " + (f"{fl[m]:.2f}x |" if m in fl else "- |"))
    out += ["", "| adapt loop on halfcheetah-broken-back-thigh (no evaluation) | steps/s | minutes per 1e5 steps |",
            "|---|---|---|"]
    for m, v in r["loop"].items():
        out.append(f"| {m} | {v['steps_per_s']:.0f} | {v['minutes_per_1e5_steps']:.1f} |")
    return out + [""]


def cotrain_section(r: dict) -> list[str]:
    B = r["batch_size_per_domain"]
    out = [f"### Co-training baselines, per-update cost ({_prov(r)})", "",
           f"One iteration's learning work on {r['task']}: sampling, the jitted update and host-side periodic "
           f"work (VGDF's model refit, timed with {r['target_size']:,} target transitions), median over rounds. "
           f"`sac` = one SAC update on {B} rows; `sac-mix` = SAC on {B} source + {B} target rows, the same data "
           "volume as PAR and VGDF.", "",
           "| method | ms per update | of which periodic (model refit) | vs SAC | vs SAC-mix | "
           "GFLOP per update (XLA) | FLOPs vs SAC-mix |",
           "|---|---|---|---|---|---|---|"]
    periodic, flops = r.get("periodic_ms_per_update"), r.get("flops_per_update") or {}
    for m, v in r["ms_per_update"].items():
        refit = f"{periodic[m]:.1f}" if periodic and m in periodic else "-"
        mix = r["cost_vs_sac_mix"][m] if r.get("cost_vs_sac_mix") else float("nan")
        f, f_mix = flops.get(m), flops.get("sac-mix")
        fl = f"{f / 1e9:.3f} | {f / f_mix:.2f}x" if f and f_mix else "- | -"
        out.append(f"| {m} | {v:.1f} | {refit} | {r['cost_vs_sac'][m]:.2f}x | {mix:.2f}x | {fl} |")
    if (floor := r.get("vgdf_protocol_flop_floor")) and floor.get("vs_sac_mix"):
        out += ["", f"VGDF's floor over the full protocol ({floor['source_steps']:,} source steps, a target step "
                f"every {floor['target_every']}): at least {floor['min_model_minibatch_steps']:,} model minibatch "
                f"steps of {floor['model_step_flops'] / 1e9:.2f} GFLOP (each refit trains `patience + 2` epochs or "
                f"more on all target data), i.e. {floor['flops_per_iteration'] / 1e9:.2f} GFLOP per iteration "
                f"amortised = **{floor['vs_sac_mix']:.1f}x the FLOPs of a SAC-mix update** whatever the "
                "implementation; the per-update timing above (refit at a small target buffer) is below the run "
                "average."]
    return out + [""]


def offline_section(r: dict, where: str = "") -> list[str]:
    peak = r["matmul_gflops"]
    out = [f"### Offline methods (CQL), per-update cost{where} ({_prov(r)})", "",
           "Updates through the offline loop's own compiled chunk (minibatches drawn on the device from a "
           "synthetic HalfCheetah-sized dataset), each method round-robin with a SAC update on the same networks and "
           f"batch, median over rounds; matmul peak in the same run {peak['gemm2048']:.0f} / {peak['chain256']:.0f} "
           "GFLOP/s (2048^3 GEMM / chained 256-wide). Hours: 1e5 and 1e6 updates at the measured rate.", "",
           "| networks | batch | method | updates/s | vs SAC | MFLOP per update (XLA) | % of the matmul peak | "
           "hours per 1e5 / 1e6 updates |", "|---|---|---|---|---|---|---|---|"]
    for size in r["sizes"]:
        hidden = " x ".join(str(w) for w in size["hidden"])
        for name, rate in size["updates_per_s"].items():
            mflop = size["mflop_per_update"].get(name)
            frac = size["fraction_of_peak"].get(name)
            hours = size["hours_on_one_core"].get(name)
            out.append(f"| {hidden} | {size['batch_size']} | {name} | {rate:,.1f} | {size['cost_vs_sac'][name]:.1f}x | "
                       + (f"{mflop:,.0f}" if mflop else "-") + " | "
                       + (f"{100 * frac:.0f} %" if frac is not None else "-") + " | "
                       + (f"{hours['1e5_updates']:.1f} / {hours['1e6_updates']:.1f}" if hours else "-") + " |")
    return out + [""]


def learning_section(r: dict) -> list[str]:
    out = [f"### SAC learning quality, 1e5 steps, `expert` preset ({_prov(r)})", "",
           "| env | return at 1e5 per seed | mean ± std over seeds | Tianshou SAC at 1e5 (10 seeds) |",
           "|---|---|---|---|"]
    for env, v in r["results"].items():
        ref = v["reference_tianshou"]
        per_seed = ", ".join(f"{x:,.0f}" for x in v["return_at_1e5"])
        out.append(f"| {env} | {per_seed} | {v['mean']:,.0f} ± {v['std']:,.0f} | "
                   + (f"{ref[0]:,} ± {ref[1]} |" if ref else "- |"))
    return out + ["", "![learning curves](../benchmarks/results/learning_sac.png)", ""]


def grid_section(r: dict) -> list[str]:
    out = [f"### Grid executors ({_prov(r)})", "",
           f"{r['what']}, each way run as a `daftrl grid run` subprocess in alternating rounds (median of "
           f"{len(next(iter(r['wall_s'].values())))}). Cores busy = CPU time / wall time.", "",
           "| executor | runs per hour | cores busy |", "|---|---|---|"]
    for mode, v in r["runs_per_hour"].items():
        busy = r.get("cores_busy", {}).get(mode)
        out.append(f"| {mode} | {v:.1f} | " + (f"{busy:.2f} |" if busy is not None else "- |"))
    out += ["", f"local / serial: **{r['local_vs_serial']:.2f}x**"
            + (f"; local / serial pinned to one core: **{r['local_vs_serial_1core']:.2f}x**"
               if "local_vs_serial_1core" in r else "") + ". One unpinned process already keeps more than one core "
            "busy (XLA runs the update on its own threads while Python steps the env), so on 2 cores the pool gains "
            "less over it than over one core; one pinned process per core is still the fastest way to run a grid. "
            "Runs this short carry process start-up and compilation, which a 1e5-step run amortises.", ""]
    for row in r.get("evaluation_share", []):
        out.append(f"Evaluation share of a {row['budget_steps']:,}-step {row['kind']} run, campaign "
                   f"`{row['campaign']}` (every {row['eval_every']:,} steps, {row['eval_episodes']} episodes): "
                   f"**{100 * row['median_share']:.1f} %** (median of {row['runs']} runs, "
                   f"{100 * row['min_share']:.1f}-{100 * row['max_share']:.1f} %).")
    return out + [""]


def before_after_section(r: dict) -> list[str]:
    out = [f"### The consolidation, before and after (commits `{r['before_commit']}` -> `{r['after_commit']}`)", "",
           r["what"] + ".", "", "| measure | after / before, per round | median |", "|---|---|---|"]
    for name, v in r["after_over_before"].items():
        out.append(f"| {name} | {', '.join(f'{x:.2f}' for x in v['per_round'])} | {v['median']:.2f} |")
    return out + [""]


def main() -> None:
    lines = ["# Benchmarks", "", "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; "
             "each result records the commit, command, date and machine. Timings on shared 2-core VMs drift by "
             "±20-30 %: compare the ratios, which are measured side by side in one run.", ""]
    for name in ("bench_sac.json", "bench_sac_b128.json"):
        if (r := _load(name)):
            lines += sac_section(r)
    if (r := _load("bench_adapt.json")):
        lines += adapt_section(r)
    if (r := _load("bench_cotrain.json")):
        lines += cotrain_section(r)
    if (r := _load("bench_offline.json")):
        lines += offline_section(r)
    if (r := _load("bench_offline_1core.json")):  # written under `taskset -c 0`, the other core busy
        lines += offline_section(r, ", one process pinned to one core while the other core ran another benchmark")
    if (r := _load("bench_grid.json")):
        lines += grid_section(r)
    if (r := _load("consolidation_before_after.json")):
        lines += before_after_section(r)
    lines += ["### Adaptation and runtime comparisons", "",
              "The comparisons of adaptation methods over seeds (the paper's Figure 2) and of adaptation against "
              "co-training runtime (Figure 3) are run records in the results store (`results/`, docs/experiments.md) "
              "and are reported in [results.md](results.md), generated by `daftrl report results --out "
              "docs/results.md`: campaign `legacy-adapt` holds the adaptation runs on halfcheetah-broken-back-thigh "
              "and walker-no-right-thigh, campaign `runtime` the runtime comparison on halfcheetah-broken-back-thigh "
              "(both migrated from the earlier benchmark tables by `benchmarks/migrate_legacy_results.py`).", ""]
    if (r := _load("learning_sac.json")):
        lines += learning_section(r)
    (ROOT.parent / "docs" / "benchmarks.md").write_text("\n".join(lines))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
