"""Sweep a deep UFM over widths x seeds into a resumable SQLite store, then draw P(DNC) vs d.

Run: python examples/sweep_to_sqlite.py [--seeds 40 --widths 4,8,32 --out sweep_example]

The store (``OUT/sweep.sqlite``) keeps one row per (config, seed); run the script again and
finished rows are skipped. The figure ``OUT/p_dnc_vs_d.png`` shows P(DNC) with 95% Wilson
intervals (docs/math.md §8.1). See docs/tutorials/thousand-seeds.md for the full-size version.
"""
import argparse
from pathlib import Path

from nclab import sweep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=40, help="seeds per width")
    ap.add_argument("--widths", default="4,8,32", help="comma-separated widths d")
    ap.add_argument("--steps", type=int, default=1000, help="gradient steps per run")
    ap.add_argument("--out", default="sweep_example", help="output folder")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "sweep.sqlite"
    summary = sweep.run("ufm", grid={"d": args.widths}, seeds=args.seeds, store=store, preset="garrod",
                        fixed={"K": 4, "n": 2, "L": 3, "lam": 2**-6, "steps": args.steps, "lr": 0.5},
                        executor="inline", progress=False)
    print(summary)
    df = sweep.load(store)
    print(df.groupby("d")["label"].value_counts().unstack(fill_value=0).to_string())
    figures = sweep.store_figures(store, key="d")
    for name, fig in figures.items():
        if name.startswith("p_"):
            fig.savefig(out / f"{name}.png", dpi=100)
            print(f"wrote {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
