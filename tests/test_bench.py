"""The benchmark end to end on the tiny model: one run per scenario, the JSON report's shape."""

import json

import pytest
from PIL import Image, ImageDraw

from benchmark import kernels
from benchmark.fixed_length import FixedLengthAnswers
from benchmark.naive import generate_naive
from benchmark.run import SCENARIOS, STAGES, format_table, main


def _screenshot(size=(640, 480)):
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((60, 60), "Error: file not found", fill="black")
    return image


def test_naive_generate_runs(tiny_vlm):
    naive = generate_naive(tiny_vlm, _screenshot(), "Describe.", max_new_tokens=4, ignore_eos=True)
    assert isinstance(naive.text, str) and naive.text
    assert naive.vision_tiles > 1 and naive.vision_s > 0  # processor defaults split 640x480 into tiles


def test_vision_flops_are_counted_for_smolvlm_only(tiny_vlm):
    assert kernels.vision_flops_per_tile(tiny_vlm) > 0
    assert kernels.vision_flops_per_tile(object()) is None


def test_fixed_length_answers_run_past_the_end_of_sequence(tiny_vlm, monkeypatch):
    """Every token ends the answer for the plain model; the wrapper's answer still runs to its limit."""
    monkeypatch.setattr(tiny_vlm, "eos_ids", set(range(tiny_vlm.model.config.text_config.vocab_size)))
    ctx = tiny_vlm.encode(_screenshot(), "quick")
    assert "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=6)) == ""
    fixed = FixedLengthAnswers(tiny_vlm)
    assert "".join(fixed.answer(ctx, "Describe.", max_new_tokens=6))
    assert fixed.encode(_screenshot(), "quick").tiles == ctx.tiles  # the rest passes through


def test_the_first_utterance_waits_for_the_models_tokens_not_its_text_pieces(tiny_gemma4):
    """A random Gemma 4 writes many tokens that are no text piece on their own: the benchmark's
    first utterance (after N tokens) and decode rate count the model's tokens."""
    from benchmark.fixed_length import TokenCount
    from benchmark.run import FirstUtteranceAfter

    generated = TokenCount()
    fixed = FixedLengthAnswers(tiny_gemma4, generated)
    ctx = tiny_gemma4.encode(_screenshot(), "quick")
    seen: list[int] = []
    pieces = list(fixed.answer(ctx, "Describe.", max_new_tokens=12, on_token=seen.append))
    assert generated.value == len(seen) == 12 and len(generated.times) == 12
    assert generated.rate() is not None and generated.rate() > 0
    segmenter = FirstUtteranceAfter(3, generated)
    generated.value = 2
    assert segmenter.feed("Two tokens") == []
    generated.value = 3
    assert segmenter.feed(" three") == ["Two tokens three"]
    by_pieces = FirstUtteranceAfter(3)
    assert by_pieces.feed("a") == [] and by_pieces.feed("b") == [] and by_pieces.feed("c") == ["abc"]
    assert pieces  # the wrapped model still streams its text


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


def test_processor_paths_and_the_matmul_reference_of_the_encoder_dtype(report):
    from benchmark.kernels import matmul_reference

    paths = report["processor"]["paths"]
    assert {"encoder", "prefill", "decode"} <= set(paths)
    assert report["processor"]["description"]
    compute = report["compute"]
    assert compute["vision_ours"]["matmul_reference"] == matmul_reference(paths["encoder"]["kernel"],
                                                                          paths["encoder"]["packed"])
    assert compute["vision_naive"]["matmul_reference"] == "fp32_gflops"
    assert {"fp32_gflops", "bf16_gflops", "int8_gflops"} <= set(compute["matmul_gflops"])
    assert "peer" not in report  # --quick measures no peer
    assert f"paths: {report['processor']['paths_text']}" in format_table(report)


def test_the_avx2_cap_names_every_kernel_library():
    from benchmark.kernels import AVX2_CAP
    from models.cpu_features import isa_cap

    assert {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
            "FBGEMM_ENABLE_INSTRUCTIONS"} <= set(AVX2_CAP)
    assert isa_cap(AVX2_CAP) == "AVX2"


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


def test_the_quality_tier_is_judged_by_its_own_goals():
    from benchmark.run import PEAK_RSS_TARGET_MB, TARGET_SECONDS, targets

    seconds, rss = targets("gemma4-e2b")
    assert (seconds["window"], seconds["followup"], seconds["voice"], rss) == (6.0, 1.5, 4.0, 6000)
    assert targets("gemma4-e4b")[1] is None  # no memory goal was set for E4B
    assert targets("256m") == (TARGET_SECONDS, PEAK_RSS_TARGET_MB)
