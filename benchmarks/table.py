"""Render benchmarks/results/{speed,memory}.json as the Markdown tables in the README.

    python benchmarks/table.py > /tmp/tables.md
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {1000: 1.5, 100000: 1.25, 10000000: 1.10}  # crossloss / native, torch and NumPy


def speed_table(results: list[dict]) -> str:
    """Ratio crossloss / native (median) per loss variant, backend and size; * marks a miss."""
    rows = defaultdict(dict)
    for r in results:
        if r["backend"] == "tensorflow" and "keras" not in r["native"]:
            continue  # TensorFlow is held to the Keras loss object
        limit = 1.0 if r["backend"] == "tensorflow" else TARGETS.get(r["size"], 1.10)
        if r["loss"] == "binary_crossentropy" and r["variant"] == "from_logits" and r["backend"] == "torch":
            limit = 1.8  # the allowance for the inf-safe form
        mark = "" if r["ratio"] <= limit else "*"
        rows[(r["loss"], r["variant"])][(r["backend"], r["size"])] = f"{r['ratio']:.2f}{mark}"
    columns = [(b, s) for b in ("torch", "numpy", "tensorflow") for s in (1000, 100000, 10000000)]
    head = "| loss | variant | " + " | ".join(f"{b} {s:.0e}".replace("+0", "") for b, s in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for (loss, variant), cells in rows.items():
        lines.append(f"| {loss} | {variant} | " + " | ".join(cells.get(c, "") for c in columns) + " |")
    return "\n".join(lines)


def memory_table(results: list[dict]) -> str:
    lines = ["| loss | variant | backend | method | forward | forward + backward |", "|---|---|---|---|---|---|"]
    for r in results:
        both = r.get("fwd+bwd_ratio")
        lines.append(f"| {r['loss']} | {r['variant']} | {r['backend']} | {r['method']} | {r['fwd_ratio']:.2f} | "
                     f"{'' if both is None else format(both, '.2f')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    speed = json.loads((RESULTS / "speed.json").read_text())
    memory = json.loads((RESULTS / "memory.json").read_text())
    print(speed_table(speed["results"]))
    print()
    print(memory_table(memory["results"]))
    env = speed["environment"]
    print(f"\n{env['cpu_count']} CPU cores, torch {env['versions'].get('torch')}, "
          f"numpy {env['versions'].get('numpy')}, tensorflow-cpu {env['versions'].get('tensorflow-cpu')}")
