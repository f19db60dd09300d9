"""The findings: every claim of the paper, our number, and a verdict computed from the run.

Verdicts are one of :data:`VERDICTS`. The rules, applied to the result files a run wrote:

* **value claims** (accuracy 92.61, F1 88.48): *holds* when the paper's value lies inside our 95%
  bootstrap interval or below it (we reach at least that level), *does not hold* when it lies
  above our interval;
* **comparative claims** (beats U-Net, attention helps, ...): *holds* when the paired bootstrap
  interval of the difference lies above zero, *does not hold* otherwise (no difference shown, or
  the other model better), with the interval in the reason;
* **claims this data cannot test** (pixel IoU on image-level labels, GPU latency): *cannot be
  tested here*, with the reason and, where one exists, the nearest measurable counterpart;
* a claim whose result file is missing (a chapter not run) is *not run*.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import paper
from .atomic import read_json
from .experiments import load_headline, plan
from .profiles import Profile

__all__ = ["VERDICTS", "evaluate_claims", "verdict_counts"]

HOLDS, FAILS, UNTESTABLE, NOT_RUN = "holds", "does not hold", "cannot be tested here", "not run"
VERDICTS = (HOLDS, FAILS, UNTESTABLE, NOT_RUN)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}"


def _value_claim(
    claim: str, source: str, paper_value: float, metrics: dict | None, metric: str, where: str
) -> dict[str, Any]:
    row = {"claim": claim, "source": source, "paper": f"{paper_value:.2f}", "test": where}
    if metrics is None:
        return {**row, "ours": "n/a", "verdict": NOT_RUN, "why": "the chapter was not run"}
    value = metrics["overall"][metric]
    ci = metrics["ci"][metric]
    ours = f"{_pct(value)} [{_pct(ci['low'])}, {_pct(ci['high'])}]"
    lo, hi = 100 * ci["low"], 100 * ci["high"]
    if lo <= paper_value <= hi:
        verdict, why = HOLDS, "the paper's value lies inside our 95% interval"
    elif paper_value < lo:
        verdict, why = HOLDS, "our whole 95% interval lies above the paper's value"
    else:
        verdict, why = FAILS, "our whole 95% interval lies below the paper's value"
    return {**row, "ours": ours, "verdict": verdict, "why": why}


def _find_test(tests: list[dict] | None, a: str, b: str, metric: str) -> dict | None:
    for t in tests or []:
        if t["a"] == a and t["b"] == b and t["metric"] == metric:
            return t
    return None


def _comparative_claim(
    claim: str, source: str, paper_text: str, tests: list[dict] | None, pairs: list[tuple]
) -> dict[str, Any]:
    row = {"claim": claim, "source": source, "paper": paper_text}
    found = [(a, b, _find_test(tests, a, b, "macro_f1")) for a, b in pairs]
    if any(t is None for _, _, t in found):
        return {
            **row,
            "test": "paired bootstrap, macro F1",
            "ours": "n/a",
            "verdict": NOT_RUN,
            "why": "the chapter that runs this comparison was not run",
        }
    parts, all_better = [], True
    for a, b, t in found:
        diff, lo, hi = t["a minus b (points)"], t["95% CI low"], t["95% CI high"]
        parts.append(f"{a} - {b}: {diff:+.2f} [{lo:+.2f}, {hi:+.2f}] points")
        all_better &= bool(t["a better (CI above 0)"])
    if all_better:
        verdict, why = HOLDS, "every paired interval lies above zero"
    elif any(t["b better (CI below 0)"] for _, _, t in found):
        verdict, why = FAILS, "the other model is better: a paired interval lies below zero"
    else:
        verdict, why = FAILS, "no difference shown: a paired interval includes zero"
    return {
        **row,
        "test": "paired bootstrap over test images, macro F1 (family split)",
        "ours": "; ".join(parts),
        "verdict": verdict,
        "why": why,
    }


def _read(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _training_claims(run_dir: Path, profile: Profile) -> list[dict[str, Any]]:
    rows = []
    by_split = {s.split: load_headline(run_dir, s, profile) for s in plan(profile, "training")}
    headline = paper.HEADLINE
    for split, metrics in by_split.items():
        where = f"full model, {split} split"
        rows.append(
            _value_claim(
                "accuracy 92.61",
                headline["accuracy"].source,
                headline["accuracy"].value,
                metrics,
                "accuracy",
                where,
            )
        )
        rows.append(
            _value_claim(
                "F1 88.48 (we compare macro F1)",
                headline["f1"].source,
                headline["f1"].value,
                metrics,
                "macro_f1",
                where,
            )
        )

    family = by_split.get("family")
    jaccard = "n/a" if family is None else _pct(family["overall"]["mean_iou"])
    rows.append(
        {
            "claim": "mean IoU 84.7 of the segmentation",
            "source": headline["mean_iou"].source,
            "paper": f"{headline['mean_iou'].value:.2f}",
            "test": "no pixel masks exist",
            "ours": f"image-level Jaccard (family split): {jaccard}",
            "verdict": UNTESTABLE,
            "why": "the labels are image-level; a segmentation IoU needs masks. The image-level "
            f"Jaccard that the paper's own Table 1 implies is {paper.table1_mean_iou():.2f}, "
            "not 84.7",
        }
    )
    if family is not None and by_split.get("paper") is not None:
        fam, pap = family["overall"]["accuracy"], by_split["paper"]["overall"]["accuracy"]
        rows.append(
            {
                "claim": "(ours) a random split overstates accuracy",
                "source": "data chapter",
                "paper": "random 80/20 split",
                "test": "full model, paper split vs family split",
                "ours": f"paper split {_pct(pap)} vs family split {_pct(fam)}",
                "verdict": HOLDS if pap > fam else FAILS,
                "why": "accuracy under the leaky split is "
                + ("higher" if pap > fam else "not higher")
                + " than under the family split",
            }
        )
    if family is not None:
        per_class = {c["class"]: c["f1"] for c in family["per_class"] if c["f1"] is not None}
        lowest = sorted(per_class, key=per_class.get)[:3]
        hit = {"impact ejecta", "slope streak"} <= set(lowest)
        rows.append(
            {
                "claim": "impact ejecta and slope streak score lowest",
                "source": "Abstract, Table 1",
                "paper": "F1 76.92 and 80.62",
                "test": "three lowest per-class F1, family split",
                "ours": ", ".join(f"{c} {_pct(per_class[c])}" for c in lowest),
                "verdict": HOLDS if hit else FAILS,
                "why": "both are among our three lowest" if hit else "not both among our lowest",
            }
        )
    return rows


def _comparison_claims(results: Path) -> list[dict[str, Any]]:
    ablation = _read(results / "ablation_tests.json")
    baselines = _read(results / "baseline_tests.json")
    fam = "{} (family)".format
    return [
        _comparative_claim(
            "beats U-Net", "Abstract", "F1 +6.41, IoU +8.7 points", baselines, [("full", "unet")]
        ),
        _comparative_claim(
            "beats DeepLabV3+",
            "Abstract",
            "F1 +2.59, IoU +3.2 points",
            baselines,
            [("full", "deeplabv3plus")],
        ),
        _comparative_claim(
            "the segmentation head helps",
            "Table 3",
            "F1 83.45 -> 85.92",
            ablation,
            [(fam("head"), fam("plain")), (fam("full"), fam("attention"))],
        ),
        _comparative_claim(
            "attention helps",
            "Table 3",
            "F1 83.45 -> 86.75",
            ablation,
            [(fam("attention"), fam("plain")), (fam("full"), fam("head"))],
        ),
    ]


def _efficiency_claims(results: Path) -> list[dict[str, Any]]:
    data = _read(results / "efficiency.json")
    rows = data["rows"] if isinstance(data, dict) else data
    eff = paper.EFFICIENCY
    base = {"source": "Table 2"}
    if rows is None:
        return [
            {
                **base,
                "claim": "~25M parameters, ~4 GFLOPs",
                "paper": "25M, 4",
                "test": "ResNet-50 full model",
                "ours": "n/a",
                "verdict": NOT_RUN,
                "why": "the efficiency chapter was not run",
            }
        ]
    table = pd.DataFrame(rows)
    full = table[(table["backbone"] == "resnet50") & (table["model"] == "full")]
    out = []
    if len(full):
        params, gmacs = float(full["params"].iloc[0]), float(full["gmacs"].iloc[0])
        ok = (
            abs(params / (eff["parameters_millions"].value * 1e6) - 1) < 0.2
            and abs(gmacs / eff["gflops"].value - 1) < 0.25
        )
        out.append(
            {
                **base,
                "claim": "~25M parameters and ~4 GFLOPs at 224",
                "paper": "~25M, ~4 GFLOPs",
                "test": "ResNet-50 full model, counted",
                "ours": f"{params / 1e6:.2f}M parameters, {gmacs:.2f} GMACs",
                "verdict": HOLDS if ok else FAILS,
                "why": "within 20% / 25% (the paper's GFLOPs are multiply-adds)"
                if ok
                else "outside 20% / 25% of the paper's figures",
            }
        )
    latency = "; ".join(
        f"{r.backbone} {r.model}: {r.latency_ms_optimised:.1f} ms/img"
        for r in table[table["model"] == "full"].itertuples()
    )
    out.append(
        {
            **base,
            "claim": "25-30 ms per image",
            "paper": f"{eff['latency_ms_low'].value:g}-{eff['latency_ms_high'].value:g} ms (GPU)",
            "test": "needs a GPU",
            "ours": f"CPU batch-1: {latency}",
            "verdict": UNTESTABLE,
            "why": "the paper's timing is on a GPU; this machine has none",
        }
    )
    return out


def _xai_claims(results: Path) -> list[dict[str, Any]]:
    summary = _read(results / "xai_summary.json")
    base = {
        "claim": "Grad-CAM and IG highlight the same regions",
        "source": "XAI consistency",
        "paper": "overlap 'consistently' (no number)",
    }
    if summary is None:
        return [
            {
                **base,
                "test": "top-10% IoU vs chance",
                "ours": "n/a",
                "verdict": NOT_RUN,
                "why": "the explainability chapter was not run",
            }
        ]
    rows = [r for r in summary["consistency"] if r["metric"] == "topk_iou@0.1"]
    parts, above = [], []
    for r in rows:
        parts.append(
            f"{r['pair']}: {r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] "
            f"vs chance {r['chance']:.3f}"
        )
        above.append(r["ci_low"] > r["chance"])
    verdict = HOLDS if above and all(above) else FAILS
    why = (
        "every pair overlaps more than chance (interval above chance)"
        if verdict == HOLDS
        else "at least one pair does not overlap more than chance"
    )
    return [
        {
            **base,
            "test": "top-10% salient-pixel IoU, bootstrap over images",
            "ours": "; ".join(parts),
            "verdict": verdict,
            "why": why,
        }
    ]


def _segmentation_claims(results: Path) -> list[dict[str, Any]]:
    pointing = _read(results / "seg_pointing.json")
    study = _read(results / "seg_study.json")
    base = {
        "claim": "explanations point at geology (craters)",
        "source": "XAI section",
        "paper": "qualitative",
    }
    if pointing is None:
        return [
            {
                **base,
                "test": "pointing game on mars-orbital-seg-53",
                "ours": "n/a",
                "verdict": NOT_RUN,
                "why": "the segmentation chapter was not run",
            }
        ]
    rows = []
    for res in pointing["results"]:
        if res["tolerance"] != 0 or res["method"] not in ("gradcam", "ig_black", "ig_blur"):
            continue  # the edge-detector control and the tolerant variant are in the chapter
        p = res.get("p_value_exact")
        p = res["p_value_monte_carlo"] if p is None else p
        ok = p < 0.05 and res["hit_rate"] > res["baseline_expected"]
        rows.append(
            {
                **base,
                "test": f"pointing game: {res['method']} peak inside a crater",
                "ours": f"hit rate {res['hit_rate']:.2f} vs random "
                f"{res['baseline_expected']:.2f} (p={p:.3g}, {res['n_tiles']} tiles)",
                "verdict": HOLDS if ok else FAILS,
                "why": "more hits than random points (p < 0.05)"
                if ok
                else "not more hits than random points at p < 0.05",
            }
        )
    models = (study or {}).get("models", {})
    miou = {
        name: next(r for r in m["summary"] if r["class"] == "mIoU") for name, m in models.items()
    }
    if {"full", "unet", "deeplabv3plus"} <= set(miou):
        best = max(miou, key=lambda m: miou[m]["mean"])
        rows.append(
            {
                "claim": "the proposed model segments better than U-Net and DeepLabV3+",
                "source": "Abstract",
                "paper": "mIoU 84.7 vs 76 and 81.5",
                "test": "real pixel mIoU, cross-validated on mars-orbital-seg-53",
                "ours": "; ".join(
                    f"{m} {100 * v['mean']:.1f} ± {100 * v['std']:.1f}" for m, v in miou.items()
                ),
                "verdict": HOLDS if best == "full" else FAILS,
                "why": f"the highest mean mIoU across folds is {best}'s",
            }
        )
    return rows


def evaluate_claims(run_dir: str | os.PathLike, profile: Profile) -> pd.DataFrame:
    """Every claim with the paper's value, ours, a verdict and its reason."""
    run_dir = Path(run_dir)
    results = run_dir / "results"
    rows = (
        _training_claims(run_dir, profile)
        + _comparison_claims(results)
        + _efficiency_claims(results)
        + _xai_claims(results)
        + _segmentation_claims(results)
    )
    columns = ["claim", "source", "paper", "test", "ours", "verdict", "why"]
    return pd.DataFrame(rows)[columns]


def verdict_counts(claims: pd.DataFrame) -> pd.Series:
    """How many claims got each verdict."""
    return claims["verdict"].value_counts().reindex(VERDICTS, fill_value=0)
