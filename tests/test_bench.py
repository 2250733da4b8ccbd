"""The benchmark end to end on the tiny model: one run per scenario, the JSON report's shape."""

import json

import pytest

from benchmark.run import SCENARIOS, STAGES, format_table, main


@pytest.fixture(scope="module")
def report(tiny_vlm_dir, tiny_moonshine_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "report.json"
    code = main(["--quick", "--model", str(tiny_vlm_dir), "--speech-model",
                 str(tiny_moonshine_dir), "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def test_every_scenario_has_ordered_stages(report):
    assert list(report["scenarios"]) == list(SCENARIOS)
    for name, entry in report["scenarios"].items():
        for path in ("ours", "naive"):
            runs = entry[path]["runs"]
            assert len(runs) == 1, (name, path)
            stages = runs[0]["stages"]
            present = [s for s in STAGES if s in stages]
            times = [stages[s] for s in present]
            assert times == sorted(times), (name, path, stages)
            assert {"captured", "first_token", "first_utterance", "first_audio"} <= set(stages)
            assert runs[0]["total_s"] is not None and runs[0]["total_s"] > 0
        ours = entry["ours"]["runs"][0]["stages"]
        if name in ("screen", "window", "region", "voice"):
            assert ours["captured"] <= ours["preprocessed"] <= ours["encoded"], name
        assert entry["naive_over_ours"] > 0
        assert entry["ours"]["median"]["peak_rss_mb"] > 0


def test_voice_counts_from_the_end_of_speech(report):
    run = report["scenarios"]["voice"]["ours"]["runs"][0]
    stages = run["stages"]
    assert stages["encoded"] < stages["speech_end"] < stages["transcribed"] < stages["first_audio"]
    assert run["total_s"] == pytest.approx(run["from_press_s"] - report["settings"]["speech_seconds"],
                                           abs=0.05)
    assert run["question"]


def test_background_and_compute_sections(report):
    bg = report["background_cost"]
    assert bg["watching_cpu_percent"] >= 0 and bg["poll_interval_s"] > 0
    background = report["scenarios"]["background"]["ours"]["runs"][0]["stages"]
    assert "preprocessed" not in background or background["preprocessed"] <= background["encoded"]
    compute = report["compute"]
    assert compute["matmul_gflops"]["fp32_gflops"] > 0
    assert compute["vision_ours"]["achieved_gflops"] > 0
    assert compute["vision_naive"]["seconds_per_tile"] > 0
    assert report["load"]["peak_rss_mb"] > 0
    assert report["settings"]["tts"]


def test_table_lists_every_scenario(report):
    table = format_table(report)
    for name in SCENARIOS:
        assert name in table
    assert "naive" in table and "GFLOP/s" in table


def test_bad_options_give_a_clear_message(capsys):
    assert main(["--runs", "0"]) == 1
    assert "at least 1" in capsys.readouterr().err
    assert main(["--", "--tokens", "0"]) == 1  # `screensight bench -- --tokens 0`
    assert "at least 1" in capsys.readouterr().err


def test_grounding_comparison_reports_interleaved_pairs(tiny_vlm_dir, tmp_path):
    """--scenario grounding: plain and grounded describes in pairs, the per-pair difference and the memory."""
    out = tmp_path / "grounding.json"
    assert main(["--quick", "--model", str(tiny_vlm_dir), "--scenario", "grounding", "--runs", "2", "--no-naive",
                 "--tts", "silent", "--json", str(out)]) == 0
    entry = json.loads(out.read_text())["scenarios"]["grounding"]
    plain, grounded = entry["plain"]["runs"], entry["ours"]["runs"]
    assert len(plain) == len(grounded) == 1  # --quick: one pair
    assert entry["delay_s"]["pairs"] == [round(grounded[0]["total_s"] - plain[0]["total_s"], 3)]
    assert entry["delay_s"]["target"] == 0.3 and entry["peak_rss_mb"]["target"] == 1300
    assert entry["peak_rss_mb"]["grounded"] > 0 and entry["peak_rss_mb"]["plain"] > 0
    assert "grounding: first audio" in format_table(json.loads(out.read_text()))
