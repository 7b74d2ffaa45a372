"""The benchmark's report logic: bootstrap intervals, the Markdown table and the README block."""

from __future__ import annotations

import numpy as np

from benchmarks.suite import (
    FEW_PLACEMENTS,
    README_END,
    README_START,
    bootstrap_ci,
    calibration_report,
    class_report,
    markdown_table,
    update_readme,
)

RESULT = {
    "command": "harlens bench", "generated_at": "2026-11-24T00:00:00+00:00", "seconds": 60.0, "skipped": {"pamap2-zsl": "absent"},
    "machine": {"cpu": "test cpu", "cores": 2, "memory_gb": 24.0, "python": "3.11"},
    "records": [
        {"protocol": "dsads-xsub", "fold": None, "system": "harlens-evidence", "setting": "training-free cross-subject",
         "macro_f1": 0.9, "accuracy": 0.91, "macro_f1_ci95": [0.88, 0.92], "candidate_recall": 0.97,
         "llm_calls_per_window": 0.0, "tokens_per_window": 0.0},
        {"protocol": "dsads-zsl", "fold": 0, "system": "harlens-evidence", "setting": "unseen activities",
         "macro_f1": 0.7, "accuracy": 0.7, "unseen_macro_f1": 0.8, "S": 0.8, "U": 0.6, "H": 0.686},
        {"protocol": "dsads-zsl", "fold": 1, "system": "harlens-evidence", "setting": "unseen activities",
         "macro_f1": 0.6, "accuracy": 0.6, "unseen_macro_f1": 0.9, "S": 0.7, "U": 0.5, "H": 0.583},
        {"protocol": "retrieval-scale", "system": "hnsw", "n_vectors": 10000, "recall_at_10": 0.999, "p50_ms": 0.4,
         "p99_ms": 0.5, "build_s": 0.8},
    ],
}  # fmt: skip


def test_table_has_each_setting_with_fold_means():
    table = markdown_table(RESULT)
    assert "| harlens-evidence | 0.900 [0.880, 0.920] | 0.910 | 0.970 | 0.000 | 0.0 |" in table
    assert "| harlens-evidence | 2 | 0.850 ± 0.050 |" in table
    assert "| hnsw | 10,000 | 0.999 |" in table and "Skipped: pamap2-zsl" in table


def test_posture_flag_line_pools_the_folds_and_is_absent_without_counts():
    assert "flagged unseen" not in markdown_table(RESULT)
    counts = [dict(posture_flagged=10, posture_flagged_wrong=9, other_unseen_decided=100, other_unseen_wrong=50),
              dict(posture_flagged=30, posture_flagged_wrong=21, other_unseen_decided=100, other_unseen_wrong=40)]
    records = [{**r, **counts[r["fold"]]} if r["protocol"] == "dsads-zsl" else r for r in RESULT["records"]]
    table = markdown_table({**RESULT, "records": records})
    assert "2 folds pooled): 75% of the 40 flagged unseen decisions are wrong, against 45% of the other 200" in table


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{README_START}\nold table\n{README_END}\n\nafter\n")
    assert update_readme(readme, "new table\n")
    text = readme.read_text()
    assert "old table" not in text and "new table" in text and text.endswith("after\n") and text.startswith("# title")
    (tmp_path / "plain.md").write_text("no markers")
    assert not update_readme(tmp_path / "plain.md", "x")


def test_bootstrap_interval_brackets_a_perfect_and_an_imperfect_subject():
    truth = np.array(["a", "b"] * 20)
    predicted = truth.copy()
    predicted[20:30] = "a"  # the second subject is worse
    subjects = np.array(["s1"] * 20 + ["s2"] * 20)
    low, high = bootstrap_ci(truth, predicted, subjects, reps=200)
    assert low < high <= 1.0 and high == 1.0


def test_reused_packs_are_stated_with_their_build_time():
    records = [{**RESULT["records"][0], "pack_reused": True, "build_s": 120.0},
               {**RESULT["records"][1], "pack_reused": False, "build_s": 60.0}]  # fmt: skip
    table = markdown_table({**RESULT, "records": records})
    assert "1 of 2 packs were reused" in table and "took 3.0 min" in table
    assert "reused" not in markdown_table(RESULT)


def test_class_report_names_each_activitys_f1_and_the_commonest_confusions_first():
    truth = np.array(["walk"] * 4 + ["flat"] * 4 + ["sit"] * 2)
    predicted = np.array(["flat", "flat", "flat", "walk", "flat", "flat", "flat", "flat", "sit", "walk"])
    report = class_report(truth, predicted, confusions=2)
    assert report["per_class_f1"] == {"flat": round(8 / 11, 4), "sit": round(2 / 3, 4), "walk": round(1 / 3, 4)}
    assert report["confusions"] == [{"truth": "walk", "decided": "flat", "windows": 3},
                                    {"truth": "sit", "decided": "walk", "windows": 1}]  # fmt: skip


def test_weakest_activities_are_listed_under_the_cross_subject_table_only_when_recorded():
    assert "lowest per-activity F1" not in markdown_table(RESULT)
    report = {"per_class_f1": {"sitting": 1.0, "walking": 0.47, "standing": 0.87},
              "confusions": [{"truth": "walking", "decided": "walking_treadmill_flat", "windows": 31}]}
    records = [{**r, **report} if r["protocol"] == "dsads-xsub" else r for r in RESULT["records"]]
    table = markdown_table({**RESULT, "records": records})
    assert ("dsads-xsub `harlens-evidence`, lowest per-activity F1: walking 0.47, standing 0.87, sitting 1.00. Most "
            "frequent confusions (truth → decided, windows): walking → walking_treadmill_flat 31.") in table


def test_the_hour_analysis_line_states_its_time_and_explanation_outcomes():
    assert "One hour of recording" not in markdown_table(RESULT)
    hour = {"protocol": "analyze-1h", "system": "harlens analyze --llm local", "subject": "p8", "recording_min": 60,
            "windows": 720, "seconds": 41.26, "llm_calls": 9, "tokens": 4321, "segments": 23,
            "explanations": {"verified": 1, "template": 22}, "macro_f1": 0.9}
    table = markdown_table({**RESULT, "records": [*RESULT["records"], hour]})
    assert "first 60 minutes of held-out subject p8" in table and "**41.3 s** for 720 windows and 23 segments" in table
    assert "segment explanations: 22 template, 1 verified." in table


def test_few_placements_table_pairs_the_full_pack_with_the_placements_own_and_counts_their_packs():
    rows = [{"protocol": FEW_PLACEMENTS, "system": f"harlens-evidence, {pack} pack", "placement": placement,
             "pack": pack, "macro_f1": f1, "timeline_macro_f1": f1 + 0.01,
             **({"build_s": 60.0, "pack_reused": True} if pack == "placement" else {})}
            for placement, pack, f1 in [("torso", "5-placement", 0.5), ("torso", "placement", 0.8),
                                        ("wrist_left", "5-placement", 0.3), ("wrist_left", "placement", 0.6),
                                        ("torso+wrist_left", "5-placement", 0.7)]]  # fmt: skip
    table = markdown_table({**RESULT, "records": [*RESULT["records"], *rows]})
    assert "| torso | 0.500 (0.510) | 0.800 (0.810) |" in table and "| wrist_left | 0.300 (0.310) | 0.600 (0.610) |" in table
    assert "| torso+wrist_left | 0.700 (0.710) | – |" in table  # a pair has no pack of its own
    assert "2 of 2 packs were reused" in table  # one pack per placement, not one for the whole block


def test_calibration_report_measures_overconfidence_and_the_sure_windows():
    activities = ["a", "b"]
    truth = np.array(["a"] * 8 + ["b"] * 2)
    probabilities = np.array([[0.95, 0.05]] * 10)  # always sure of "a": right 8 times in 10
    report = calibration_report(truth, probabilities, activities)
    assert report["ece"] == 0.15 and report["mean_confidence"] == 0.95
    assert report["high_confidence_share"] == 1.0 and report["high_confidence_accuracy"] == 0.8
    assert report["nll"] == round(float(-(8 * np.log(0.95) + 2 * np.log(0.05)) / 10), 4)
    calibrated = calibration_report(np.array(["a", "b"] * 5), np.array([[0.5, 0.5]] * 10), activities)
    assert calibrated["ece"] == 0.0 and calibrated["high_confidence_accuracy"] is None


def test_calibration_line_reads_the_default_policys_record():
    calibration = {"ece": 0.056, "nll": 0.44, "mean_confidence": 0.95, "high_confidence": 0.9,
                   "high_confidence_share": 0.88, "high_confidence_accuracy": 0.94}
    records = [{**r, "calibration": calibration} if r["protocol"] == "dsads-xsub" else r for r in RESULT["records"]]
    table = markdown_table({**RESULT, "records": records})
    assert ("dsads-xsub `harlens-evidence` confidence on the test people: mean 0.950 against accuracy 0.910, expected "
            "calibration error 0.056, NLL 0.440; of the windows shown with confidence ≥ 0.9 (88% of them), 94.0% are "
            "right.") in table
    assert "confidence on the test people" not in markdown_table(RESULT)


def test_auto_llm_lines_give_each_protocols_calls_and_tokens_not_only_the_tables_mean():
    autos = [{"protocol": protocol, "fold": None, "system": "harlens-auto-llm", "setting": "training-free cross-subject",
              "macro_f1": 0.9, "accuracy": 0.9, "llm": "llama.cpp:test", "scored_windows": 1000, "llm_decided": decided,
              "llm_fallbacks": 1, "llm_calls_per_window": calls, "tokens_per_window": tokens,
              "evidence_macro_f1_same_windows": 0.89}
             for protocol, decided, calls, tokens in [("dsads-xsub", 9, 0.0096, 10.7), ("hapt-xsub", 5, 0.0052, 4.3)]]  # fmt: skip
    table = markdown_table({**RESULT, "records": [*RESULT["records"], *autos]})
    assert "9 decided by the LLM, 1 fell back (0.0096 LLM calls and 10.7 tokens per window" in table
    assert "5 decided by the LLM, 1 fell back (0.0052 LLM calls and 4.3 tokens per window" in table
    assert "| harlens-auto-llm |" in table and "| 0.007 ± 0.002 | 7.5 ± 3.2 |" in table  # the table's mean of the two
