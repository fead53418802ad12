#!/usr/bin/env python3
"""The paper-style report (issue 14): runs the local emulator over device specs, models and
placement policies, prints one JSON object per scenario, and writes report.md with SVG plots.

    python3 bench/paper.py --bin build/tools/lingualinked --out build/report \
        --model build/bench-models/110m-Q8_0.gguf --model build/bench-models/1b-Q4_0.gguf \
        --spec phones3 --spec bench/specs/home4.json [--balance-bin build/bench/bench_balance]

Every figure is measured in this run (the machine is shared and noisy: compare within a run).
"""
import argparse
import html
import json
import os
import statistics
import subprocess
import sys

POLICIES = ["plan", "even", "memory"]
COLORS = {"plan": "#2b6cb0", "even": "#c05621", "memory": "#2f855a", "off": "#c05621",
          "on": "#2b6cb0"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def spec_name(spec):
    return os.path.splitext(os.path.basename(spec))[0]


def model_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def drop_profiles(cache):
    """Removes the devices' cached profiles (keeping the shipped weights), so the run measures
    them afresh: this shared machine's memory bandwidth drifts by 20 % over minutes, and a
    prediction from a profile taken ten runs earlier compares the run with another machine."""
    for root, _, files in os.walk(cache):
        for f in files:
            if f.startswith("profile-v") and f.endswith(".json"):
                os.remove(os.path.join(root, f))


def run_cluster(a, spec, model, placement, streams, objective, timeline=False):
    """One `lingualinked cluster` run; returns its --json object (or raises with its stderr)."""
    cache = os.path.join(a.cache, spec_name(spec))
    if not a.keep_profiles:
        drop_profiles(cache)
    n_predict = a.n_predict if streams <= 1 else max(a.n_predict, a.n_predict_streams)
    cmd = [a.bin, "cluster", "--device-spec", spec, "-m", model, "--prompt-ids", "1,2,3,4",
           "-n", str(n_predict), "--temp", "0", "--json", "--placement", placement,
           "--objective", objective, "--streams", str(streams), "--cache-dir", cache,
           "--rebalance", "on" if a.rebalance else "off"]
    if timeline:
        cmd += ["--timeline", "1"]
    log("  " + " ".join(cmd[1:]))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)


def measured_tok_s(j):
    """Several streams: the rate while all of them generate (cluster's steady_tok_s), which is
    what the planner predicts; the whole run's rate also counts the ramp and the drain."""
    steady = j.get("steady_tok_s")
    return steady if j.get("streams", 1) > 1 and steady else j["decode_tok_s"]


def policy_figures(a, spec, model, streams, objective):
    """Each policy run a.reps times, the policies taking turns (in a rotated order each round)
    so that the machine's drift falls on all of them alike. Returns, per policy, its runs as
    (round, measured tok/s, predicted tok/s, stage times), and the errors (a policy that fails
    is not run again)."""
    runs = {p: [] for p in POLICIES}
    errors = {}
    for rep in range(a.reps):
        for pol in POLICIES[rep % len(POLICIES):] + POLICIES[:rep % len(POLICIES)]:
            if pol in errors:
                continue
            try:
                j = run_cluster(a, spec, model, pol, streams, objective)
                runs[pol].append((rep, measured_tok_s(j), j["predicted_tok_s"],
                                  stage_figures(j, pol)))
                for mv in j.get("move_log", []):
                    log(f"  {pol}: the balancer {mv}")
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
                errors[pol] = str(e).strip().splitlines()[-1][:300]
                log(f"  {pol}: {errors[pol]}")
    return runs, errors


def median(xs):
    return statistics.median(xs) if xs else None


def stage_figures(j, placement):
    """Each device's measured time per forward pass beside the planner's for these streams."""
    plan = j.get("plan", {})
    deployed = plan.get("baselines", {}).get(placement) if placement != "plan" else None
    deployed = deployed or plan.get("plan", {})
    predicted = {d["name"]: d.get("pass_ms_at_n_seqs") for d in deployed.get("devices", [])}
    return [{"name": d["name"], "stage_ms": d["stage_ms"],
             "predicted_stage_ms": predicted.get(d["name"])} for d in j["devices"]]


def speedup(ok, a, b):
    """The median over rounds of policy a's tok/s over policy b's in the same round: runs close
    in time share the machine's state."""
    tok = {p: {r[0]: r[1] for r in ok[p]} for p in (a, b)}
    return median([tok[a][k] / tok[b][k] for k in tok[a] if k in tok[b]])


def scenario_row(kind, spec, model, streams, objective, figs):
    """Medians over a policy's runs: its tok/s, its prediction, and its measured/predicted (the
    median of each run's own ratio, as each run was predicted from its own profiles). The stage
    times are the median run's (the lower middle one of an even count)."""
    runs, errors = figs
    ok = {p: [r for r in runs[p] if r[1] and r[2]] for p in POLICIES}
    tok_s = {p: median([r[1] for r in ok[p]]) for p in POLICIES}
    pred = {p: median([r[2] for r in ok[p]]) for p in POLICIES}
    per_run = {p: [r[1] / r[2] for r in ok[p]] for p in POLICIES}
    # The median run by measured/predicted (the lower middle one of an even count).
    mid = {p: sorted(zip(per_run[p], ok[p]), key=lambda x: x[0])[(len(ok[p]) - 1) // 2][1]
              if ok[p] else None
           for p in POLICIES}
    row = {"scenario": kind, "spec": spec_name(spec), "model": model_name(model),
           "streams": streams, "objective": objective,
           "runs": {p: len(ok[p]) for p in POLICIES},
           "tok_s": tok_s, "predicted_tok_s": pred,
           "measured_over_predicted": {p: median(per_run[p]) for p in POLICIES},
           "measured_over_predicted_runs": per_run,
           "speedup_vs_even": speedup(ok, "plan", "even"),
           "speedup_vs_memory": speedup(ok, "plan", "memory"),
           "stage_ms": {p: mid[p][3] if mid[p] else [] for p in POLICIES}}
    if errors:
        row["errors"] = errors
    return row


def balance_row(a, model):
    row = {"scenario": "paper_balance", "spec": "phones3", "model": model_name(model)}
    if not a.balance_bin:
        row["status"] = "not available"
        return row
    cmd = [a.balance_bin, model, a.bin, "--streams", "8", "--objective", "throughput",
           "--window", str(a.balance_window)]
    log("  " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout * 4)
        j = json.loads(p.stdout.strip().splitlines()[-1])
        row.update({k: j.get(k) for k in ("tok_s_off", "tok_s_on", "speedup", "moves",
                                           "max_pause_s_on", "identical_tokens", "move_log")})
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as e:
        row["status"] = f"failed: {e}"
    return row


# ---------------------------------------------------------------- SVG plots (hand-written)

def svg_doc(w, h, body, title):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">\n'
            f'<title>{html.escape(title)}</title>\n'
            f'<rect width="{w}" height="{h}" fill="white"/>\n{body}</svg>\n')


def text(x, y, s, anchor="start", size=12, weight="normal"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'font-weight="{weight}">{html.escape(str(s))}</text>\n')


def bars_svg(rows, title):
    """Grouped bars: one group per scenario row, one bar per policy."""
    groups = [r for r in rows if any(v for v in r["tok_s"].values())]
    gw, bw, left, top, h = 150, 36, 60, 40, 260
    w = left + max(1, len(groups)) * gw + 140
    vmax = max([v for r in groups for v in r["tok_s"].values() if v] + [1])
    body = text(w / 2, 22, title, "middle", 14, "bold")
    body += f'<line x1="{left}" y1="{top + h}" x2="{w - 140}" y2="{top + h}" stroke="black"/>\n'
    for k in range(5):
        v = vmax * k / 4
        y = top + h - h * k / 4
        body += text(left - 6, y + 4, f"{v:.0f}", "end", 10)
        body += (f'<line x1="{left}" y1="{y:.1f}" x2="{w - 140}" y2="{y:.1f}" '
                 'stroke="#ddd"/>\n')
    body += text(14, top + h / 2, "tok/s", "middle", 11)
    for gi, r in enumerate(groups):
        x0 = left + gi * gw + 15
        for pi, pol in enumerate(POLICIES):
            v = r["tok_s"].get(pol)
            if not v:
                continue
            bh = h * v / vmax
            x = x0 + pi * (bw + 4)
            body += (f'<rect x="{x}" y="{top + h - bh:.1f}" width="{bw}" height="{bh:.1f}" '
                     f'fill="{COLORS[pol]}"/>\n')
            body += text(x + bw / 2, top + h - bh - 4, f"{v:.1f}", "middle", 9)
        label = f'{r["spec"]} {r["model"]}'
        body += text(x0 + 1.5 * (bw + 4), top + h + 16, label, "middle", 10)
        body += text(x0 + 1.5 * (bw + 4), top + h + 30,
                     f'{r["streams"]} stream{"s" if r["streams"] > 1 else ""}', "middle", 10)
    for pi, pol in enumerate(POLICIES):
        y = top + 10 + pi * 18
        body += f'<rect x="{w - 120}" y="{y}" width="12" height="12" fill="{COLORS[pol]}"/>\n'
        body += text(w - 102, y + 10, pol)
    return svg_doc(w, top + h + 50, body, title)


def curve_svg(curve, title):
    """tok/s against streams, one line per policy."""
    left, top, w, h = 60, 40, 420, 260
    xs = sorted({s for pts in curve.values() for s, _ in pts})
    vmax = max([v for pts in curve.values() for _, v in pts if v] + [1])
    if not xs:
        return svg_doc(w + 200, top + h + 50, text(20, 30, "no data"), title)

    def px(s):
        return left + (xs.index(s) / max(1, len(xs) - 1)) * w

    def py(v):
        return top + h - h * v / vmax

    body = text((left + w) / 2 + 40, 22, title, "middle", 14, "bold")
    body += (f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" '
             'stroke="black"/>\n')
    body += f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="black"/>\n'
    for s in xs:
        body += text(px(s), top + h + 16, s, "middle", 10)
    body += text(left + w / 2, top + h + 34, "concurrent streams", "middle", 11)
    for k in range(5):
        body += text(left - 6, py(vmax * k / 4) + 4, f"{vmax * k / 4:.0f}", "end", 10)
    for pi, (pol, pts) in enumerate(sorted(curve.items())):
        pts = [(s, v) for s, v in pts if v]
        if pts:
            d = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in pts)
            body += (f'<polyline points="{d}" fill="none" stroke="{COLORS[pol]}" '
                     'stroke-width="2"/>\n')
            for s, v in pts:
                body += (f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="3" '
                         f'fill="{COLORS[pol]}"/>\n')
        y = top + 10 + pi * 18
        body += (f'<rect x="{left + w + 30}" y="{y}" width="12" height="12" '
                 f'fill="{COLORS[pol]}"/>\n')
        body += text(left + w + 48, y + 10, pol)
    return svg_doc(left + w + 120, top + h + 50, body, title)


def timeline_svg(tl, title):
    """Which device works when: one lane per device, a box per forward pass."""
    devs = tl.get("devices", [])
    left, top, w, lane = 110, 40, 600, 28
    h = max(1, len(devs)) * lane
    body = text((left + w) / 2, 22, title, "middle", 14, "bold")
    for i, d in enumerate(devs):
        y = top + i * lane
        body += text(left - 8, y + lane / 2 + 4, d["name"], "end", 11)
        body += (f'<rect x="{left}" y="{y + 3}" width="{w}" height="{lane - 6}" '
                 'fill="#f3f3f3"/>\n')
        for a, b in d["passes"]:
            x = left + w * a / tl.get("window_s", 1.0)
            pw = max(0.5, w * (b - a) / tl.get("window_s", 1.0))
            body += (f'<rect x="{x:.1f}" y="{y + 3}" width="{pw:.1f}" height="{lane - 6}" '
                     f'fill="{list(COLORS.values())[i % 3]}"/>\n')
    for k in range(6):
        x = left + w * k / 5
        body += text(x, top + h + 16, f"{k * 200} ms", "middle", 10)
    return svg_doc(left + w + 30, top + h + 30, body, title)


# ---------------------------------------------------------------- report

def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def table(rows):
    out = ["| spec | model | streams | objective | plan tok/s | even | memory | plan/even | "
           "plan/memory | measured/predicted (plan, even, memory) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mp = r["measured_over_predicted"]
        out.append(
            f'| {r["spec"]} | {r["model"]} | {r["streams"]} | {r["objective"]} | '
            f'{fmt(r["tok_s"]["plan"])} | {fmt(r["tok_s"]["even"])} | '
            f'{fmt(r["tok_s"]["memory"])} | {fmt(r["speedup_vs_even"], 2)}x | '
            f'{fmt(r["speedup_vs_memory"], 2)}x | '
            f'{", ".join(fmt(mp[p], 2) for p in POLICIES)} |')
    return "\n".join(out)


def run_ratios(rows):
    """Every run's measured/predicted, per scenario row and policy."""
    out = ["Measured/predicted of each run:", ""]
    for r in rows:
        runs = r.get("measured_over_predicted_runs") or {}
        cells = "; ".join(f'{p} {", ".join(fmt(v, 2) for v in runs.get(p, []))}' for p in POLICIES)
        out.append(f'- {r["spec"]} {r["model"]}: {cells}')
    return "\n".join(out)


def stage_table(rows):
    """Per device: measured ms per forward pass / the planner's, for each policy."""
    out = ["| spec | model | policy | device: measured / predicted ms per pass |", "|---|---|---|---|"]
    for r in rows:
        for pol in POLICIES:
            devs = (r.get("stage_ms") or {}).get(pol) or []
            cells = ", ".join(f'{d["name"]} {fmt(d["stage_ms"], 2)} / '
                              f'{fmt(d.get("predicted_stage_ms"), 2)}' for d in devs)
            if cells:
                out.append(f'| {r["spec"]} | {r["model"]} | {pol} | {cells} |')
    return "\n".join(out)


def write_report(a, single, multi, curve, timeline, balance, emulator):
    os.makedirs(a.out, exist_ok=True)
    files = {
        "policies.svg": bars_svg(single + multi, "tok/s per placement policy and scenario"),
        "streams.svg": curve_svg(curve, f"tok/s against streams ({a.curve_label})"),
        "timeline.svg": timeline_svg(timeline or {}, f"one second of pipelined decoding "
                                                      f"({a.curve_label}, plan, 8 streams)"),
    }
    for name, svg in files.items():
        with open(os.path.join(a.out, name), "w") as f:
            f.write(svg)
    lines = ["# LinguaLinked on emulated devices: the paper-style report", "",
             "Measured with `bash bench/paper.sh` on the local emulator (docs/cluster.md): every "
             "device is a process on this machine, slowed to its spec's `speed` per forward pass "
             "and linked by emulated Wi-Fi. Policies: `plan` (the planner), `even` (equal layers "
             "in device order, as distributed-llama), `memory` (layers in proportion to memory "
             "budgets, as llama.cpp RPC and exo). Single stream uses the `latency` objective, 8 "
             "streams `throughput`. All figures come from this one run of the report; the "
             "machine is shared, so compare within it. In the single- and 8-stream tables "
             f"every policy ran {a.reps} time(s), the policies taking turns so that the "
             "machine's drift fell on each alike; a table gives the medians, measured/predicted "
             "is the median of the runs' own ratios (listed beneath it), and plan/even and "
             "plan/memory the medians of the ratios within each round. "
             "The policies are measured as placed (the balancer, measured in its own section, "
             "is off). Each run profiles its devices afresh, so a prediction "
             "comes from the machine as it was during that run (its memory bandwidth drifts "
             "by 20 % over minutes).", "",
             "## Single stream (the paper's \"single-threaded\")", "", table(single), "",
             run_ratios(single), "",
             "## 8 concurrent streams (\"multi-threaded\")", "",
             "tok/s while all 8 streams generate (the ramp of the prompts and the drain at the "
             "end left out: `steady_tok_s` of `cluster --json`).", "", table(multi), "",
             run_ratios(multi), "",
             "Time per forward pass of each device with 8 streams in the median run (by "
             "measured/predicted), measured / predicted:", "",
             stage_table(multi), "",
             "![tok/s per policy](policies.svg)", "",
             f"## Streams ({a.curve_label})", "",
             "| streams | " + " | ".join(POLICIES) + " |", "|---|" + "---|" * len(POLICIES)]
    xs = sorted({s for pts in curve.values() for s, _ in pts})
    for s in xs:
        vals = [dict(curve.get(p, [])).get(s) for p in POLICIES]
        lines.append(f"| {s} | " + " | ".join(fmt(v) for v in vals) + " |")
    lines += ["", "![tok/s against streams](streams.svg)", "",
              "## Which device works when", "",
              "Each device's forward passes (its emulated idling included) during one second "
              "of 8-stream decoding with the plan's placement.", "", "![timeline](timeline.svg)",
              "", "## Load balancing under a speed drop", ""]
    for b in balance:
        if b.get("status"):
            lines.append(f'- {b["model"]}: {b["status"]}')
        else:
            lines.append(f'- {b["model"]}, phones3, the mid-range phone drops to 0.3 of its '
                         f'speed at 10 s, 8 streams: {fmt(b.get("tok_s_off"))} tok/s off, '
                         f'{fmt(b.get("tok_s_on"))} on ({fmt(b.get("speedup"), 2)}x), '
                         f'{b.get("moves")} move(s), longest pause '
                         f'{fmt(b.get("max_pause_s_on"), 2)} s, tokens identical: '
                         f'{b.get("identical_tokens")}')
    if emulator:
        lines += ["", "## The emulator's speed", "",
                  "Two devices with equal work at speed 1.0 and 0.3 (`bench_emulator`): the slow "
                  "device's stage time over the fast one's (goal 3.0-3.7).", ""]
        for e in emulator:
            lines.append(f'- {e["streams"]} stream(s): {fmt(e["ratio"], 2)}x '
                         f'(fast {fmt(e["fast_stage_ms"], 2)} ms, slow '
                         f'{fmt(e["slow_stage_ms"], 2)} ms)')
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"wrote {a.out}/report.md and {', '.join(files)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", default="build/report")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--spec", action="append", required=True)
    ap.add_argument("--cache", default="build/report-cache")
    ap.add_argument("--n-predict", type=int, default=32)
    ap.add_argument("--n-predict-streams", type=int, default=96,
                    help="tokens per stream with several streams: enough for a steady window")
    ap.add_argument("--streams-curve", default="1,2,4,8,16")
    ap.add_argument("--balance-bin", default="")
    ap.add_argument("--balance-window", type=float, default=20)
    ap.add_argument("--emulator-bin", default="")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--rebalance", action="store_true",
                    help="let the balancer move the plan's layers during the policy runs (off: "
                         "every policy is measured as placed, as it was predicted; balancing "
                         "has its own scenario)")
    ap.add_argument("--reps", type=int, default=3,
                    help="runs of every policy in the single- and 8-stream scenarios (the "
                         "policies take turns; the report gives the medians)")
    ap.add_argument("--keep-profiles", action="store_true",
                    help="reuse cached device profiles instead of measuring them for every run")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    single, multi = [], []
    for model in a.model:
        for spec in a.spec:
            log(f"{spec_name(spec)} / {model_name(model)}: single stream")
            r = scenario_row("paper_single", spec, model, 1, "latency",
                             policy_figures(a, spec, model, 1, "latency"))
            print(json.dumps(r), flush=True)
            single.append(r)
            log(f"{spec_name(spec)} / {model_name(model)}: 8 streams")
            r = scenario_row("paper_multi", spec, model, 8, "throughput",
                             policy_figures(a, spec, model, 8, "throughput"))
            print(json.dumps(r), flush=True)
            multi.append(r)
    # The curve and the timeline on the first spec and model (the cheapest to run).
    spec, model = a.spec[0], a.model[0]
    a.curve_label = f"{spec_name(spec)}, {model_name(model)}"
    curve = {p: [] for p in POLICIES}
    for s in [int(x) for x in a.streams_curve.split(",") if x]:
        for pol in POLICIES:
            try:
                j = run_cluster(a, spec, model, pol, s, "throughput" if s > 1 else "latency")
                curve[pol].append((s, measured_tok_s(j)))
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                log(f"  {pol} x{s}: {str(e).splitlines()[-1][:200]}")
    print(json.dumps({"scenario": "paper_streams", "spec": spec_name(spec),
                      "model": model_name(model), "tok_s": curve}), flush=True)
    timeline = None
    try:
        timeline = run_cluster(a, spec, model, "plan", 8, "throughput", True).get("timeline")
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        log(f"  timeline: {e}")
    balance = [balance_row(a, m) for m in a.model]
    for b in balance:
        print(json.dumps(b), flush=True)
    emulator = []
    if a.emulator_bin:
        p = subprocess.run([a.emulator_bin, a.model[0], a.bin, "--slow-speed", "0.3", "-n", "96"],
                           capture_output=True, text=True, timeout=a.timeout)
        for line in p.stdout.splitlines():
            try:
                emulator.append(json.loads(line))
                print(line, flush=True)
            except json.JSONDecodeError:
                pass
    write_report(a, single, multi, curve, timeline, balance, emulator)


if __name__ == "__main__":
    main()
