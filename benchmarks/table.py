"""Render benchmarks/results/{speed,memory}.json as the Markdown tables in the README.

    python benchmarks/table.py             # print them
    python benchmarks/table.py --readme    # replace the README's, between their markers

The README's tables sit between ``<!-- speed-table -->`` / ``<!-- memory-table -->`` markers
so that an update replaces exactly them (tests/test_readme.py checks their shape).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parents[1] / "README.md"
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


def splice(text: str, marker: str, body: str) -> str:
    """text with what stands between ``<!-- marker -->`` and ``<!-- /marker -->`` replaced by body."""
    head, rest = text.split(f"<!-- {marker} -->\n", 1)
    _, tail = rest.split(f"\n<!-- /{marker} -->", 1)
    return f"{head}<!-- {marker} -->\n{body}\n<!-- /{marker} -->{tail}"


if __name__ == "__main__":
    speed = json.loads((RESULTS / "speed.json").read_text())
    memory = json.loads((RESULTS / "memory.json").read_text())
    if "--readme" in sys.argv[1:]:
        text = splice(README.read_text(), "speed-table", speed_table(speed["results"]))
        README.write_text(splice(text, "memory-table", memory_table(memory["results"])))
        sys.exit()
    print(speed_table(speed["results"]))
    print()
    print(memory_table(memory["results"]))
    env = speed["environment"]
    print(f"\n{env['cpu_count']} CPU cores, torch {env['versions'].get('torch')}, "
          f"numpy {env['versions'].get('numpy')}, tensorflow-cpu {env['versions'].get('tensorflow-cpu')}")
