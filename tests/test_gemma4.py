"""Gemma 4: the VisionLanguageModel contract with a second family, and spoken questions as audio.

A tiny random-weight Gemma4ForConditionalGeneration (real classes, the real configuration's
structure, real processor settings, stand-in tokenizer with the real special tokens) loaded
through the app's own loader. Answers of random weights are nonsense; what is checked is the
mechanics: one encoding per screenshot, the cache answers exactly as a full recompute does,
streaming, cancel, history, the image budget, audio in, bad audio, language, memory.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import Future

import numpy as np
import pytest
from PIL import Image, ImageDraw

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready
from assistant.speech_in.audio_in import Recording
from base.errors import AudioError, ModelError
from base.transcript import Transcript
from base.turns import Turn
from base.vocabulary import Role
from models import catalog, store
from models.gemma4 import (
    DETAIL_BUDGETS,
    MAX_AUDIO_S,
    Gemma4Model,
    SpokenAudio,
    check_audio,
    image_budget,
)
from models.loader import load_vision_model, vision_family
from models.vision import VisionLanguageModel

RATE = 16000


def _screen(size: tuple[int, int] = (900, 600), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = int(rng.integers(0, size[0] - 100)), int(rng.integers(0, size[1] - 40))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle((x, y, x + 100, y + 40), fill=color)
        draw.text((x + 5, y + 10), "Save changes?", fill="black")
    return image


def _speech(text: str = "what does the red error say") -> np.ndarray:
    """espeak-ng's voice at 16 kHz (it speaks at 22050 Hz)."""
    wav = subprocess.run(["espeak-ng", "--stdout", text], capture_output=True, check=True).stdout
    samples = np.frombuffer(wav[44:], dtype=np.int16).astype(np.float32) / 32768
    positions = np.arange(0, len(samples), 22050 / 16000)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return _speech()


def _reference_tokens(model: Gemma4Model, image: Image.Image, detail: str, prompt: str,
                      history: list[Turn], count: int) -> list[int]:
    """Greedy tokens from full forward passes without any cache (what the cache must equal)."""
    import torch

    parts = model.parts
    prefix, suffix = model._render(prompt, history)
    budget = image_budget(detail, image.size)
    pixels = parts.image_inputs(image.convert("RGB"), budget)
    soft = int(pixels["num_soft_tokens_per_image"][0])
    text = prefix[: -len(parts.image_token)] + parts.boi + parts.image_token * soft + parts.eoi + suffix
    ids = parts.ids(text)
    tokens: list[int] = []
    with torch.inference_mode():
        for _ in range(count):
            out = model.model(input_ids=torch.tensor([ids + tokens]), pixel_values=pixels["pixel_values"],
                              image_position_ids=pixels["image_position_ids"], use_cache=False)
            tokens.append(int(torch.argmax(out.logits[0, -1])))
    return tokens


def _tokens(model: Gemma4Model, ctx, prompt: str, count: int, history=()) -> list[int]:
    seen: list[int] = []
    list(model.answer(ctx, prompt, max_new_tokens=count, history=history, ignore_eos=True,
                      on_token=seen.append))
    return seen


# -- the real configuration -----------------------------------------------------------------


@pytest.mark.parametrize(("variant", "published"), [("e2b", 5_123_178_051), ("e4b", 7_996_156_490)])
def test_the_kept_configs_have_the_published_size(variant: str, published: int):
    """The configs rebuilt from the conversion script make models of the published parameter
    counts (bf16 safetensors of google/gemma-4-E2B-it and E4B-it), within 1 %."""
    import json

    import torch
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration

    from models.synthetic_gemma4 import default_config_dir

    raw = json.loads((default_config_dir(variant) / "config.json").read_text())
    with torch.device("meta"):
        model = Gemma4ForConditionalGeneration(Gemma4Config.from_dict(raw))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - published) / published < 0.01
    text = model.config.text_config
    assert text.vocab_size == 262_144 and text.hidden_size_per_layer_input == 256
    assert model.config.audio_config is not None and model.config.vision_soft_tokens_per_image == 280


# -- loading -------------------------------------------------------------------------------


def test_the_apps_loader_picks_the_family_from_the_config(tiny_gemma4_dir, tiny_vlm_dir, tiny_gemma4):
    assert vision_family(tiny_gemma4_dir) == "gemma4"
    assert vision_family(tiny_vlm_dir) == "idefics3"
    assert isinstance(tiny_gemma4, Gemma4Model) and tiny_gemma4.hears_audio
    assert tiny_gemma4.device == "cpu"
    store.check_loadable(tiny_gemma4_dir, role=Role.VISION)
    assert isinstance(load_vision_model(tiny_vlm_dir), VisionLanguageModel)
    assert not getattr(VisionLanguageModel, "hears_audio", False)


def test_a_folder_without_the_processor_settings_is_refused_clearly(tiny_gemma4_dir, tmp_path):
    broken = tmp_path / "gemma-no-processor"
    broken.mkdir()
    for item in tiny_gemma4_dir.iterdir():
        if item.name != "processor_config.json":
            (broken / item.name).symlink_to(item)
    with pytest.raises(ModelError) as err:
        load_vision_model(broken)
    assert "processor" in err.value.message and "processor_config.json" in err.value.message


# -- the prefix cache ------------------------------------------------------------------------


def test_the_screenshot_is_encoded_once_and_follow_ups_reuse_it(tiny_gemma4):
    image = _screen(seed=1)
    calls = tiny_gemma4.vision_encoder_calls
    ctx = tiny_gemma4.encode(image, "quick")
    assert tiny_gemma4.vision_encoder_calls == calls + 1
    assert ctx.encode_s > 0 and ctx.image_tokens > 0
    first = _tokens(tiny_gemma4, ctx, "What is on the screen?", 5)
    history = [Turn("What is on the screen?", tiny_gemma4.tokenizer.decode(first))]
    _tokens(tiny_gemma4, ctx, "And the button?", 5, history)
    _tokens(tiny_gemma4, ctx, "Is there an error?", 5, history)
    again = tiny_gemma4.encode(image.copy(), "quick")  # same pixels: the cached prefix
    assert again.cache is ctx.cache and again.encode_s == 0.0
    assert tiny_gemma4.vision_encoder_calls == calls + 1
    assert _tokens(tiny_gemma4, again, "What is on the screen?", 5) == first


def test_the_pixel_cache_can_be_turned_off_and_cleared(tiny_gemma4):
    """The same public control as SmolVLM's: off means equal pixels are encoded again."""
    image, kept = _screen(seed=7), tiny_gemma4.pixel_cache_size
    try:
        tiny_gemma4.encode(image, "quick")
        calls = tiny_gemma4.vision_encoder_calls
        tiny_gemma4.clear_pixel_cache()
        tiny_gemma4.encode(image, "quick")
        assert tiny_gemma4.vision_encoder_calls == calls + 1
        tiny_gemma4.set_pixel_cache_size(0)
        tiny_gemma4.encode(image, "quick")
        assert tiny_gemma4.vision_encoder_calls == calls + 2
    finally:
        tiny_gemma4.set_pixel_cache_size(kept)


@pytest.fixture(scope="module")
def exact_gemma4(tiny_gemma4_dir):
    """The tiny Gemma 4 in float32, for the checks that cached and fresh prefills agree token for
    token: in bf16 a prefill of one token and one of many round differently, and the random
    model's near-equal logits can then pick another token on some processors (AVX-512 BF16)."""
    from models.loader import load_vision_model

    return load_vision_model(tiny_gemma4_dir, device="cpu", quantize=False, dtype="float32")


def test_answers_from_the_cache_equal_a_full_recompute(exact_gemma4):
    """The prefix (longer than the tiny model's sliding window) answers exactly as no cache does,
    first and after other answers have run on it, with history too."""
    image = _screen(seed=2)
    ctx = exact_gemma4.encode(image, "normal")
    assert ctx.prefix_len > exact_gemma4.model.config.text_config.sliding_window
    expected = _reference_tokens(exact_gemma4, image, "normal", "Describe it.", [], 6)
    assert _tokens(exact_gemma4, ctx, "Describe it.", 6) == expected
    _tokens(exact_gemma4, ctx, "Something else entirely, and longer than before.", 6)
    assert _tokens(exact_gemma4, ctx, "Describe it.", 6) == expected
    history = [Turn("Describe it.", "A dialog with a Save button.")]
    assert (_tokens(exact_gemma4, ctx, "Where is it?", 4, history)
            == _reference_tokens(exact_gemma4, image, "normal", "Where is it?", history, 4))


def test_a_follow_up_prefills_only_what_the_last_answer_did_not_compute(exact_gemma4):
    """The last answer's cache is kept and cut back to what the follow-up's prompt starts with
    (the replayed question and answer), also past the sliding window and back into an earlier
    turn; the tokens equal those of a fresh copy of the prefix, which prefills everything."""
    import dataclasses

    def fresh(prompt: str, history: list[Turn], count: int, last: object) -> tuple[list[int], int]:
        replaced = dataclasses.replace(ctx, kept=None, tail_ids=[], last_turn=last)
        tokens = _tokens(exact_gemma4, replaced, prompt, count, history)
        return tokens, exact_gemma4.last_prefill_tokens

    def suffix_length(prompt: str, history: list[Turn]) -> int:
        return len(exact_gemma4.parts.ids(exact_gemma4._render(prompt, history)[1]))

    ctx = exact_gemma4.encode(_screen(seed=11), "normal")
    assert ctx.prefix_len > exact_gemma4.model.config.text_config.sliding_window
    first = _tokens(exact_gemma4, ctx, "Describe it.", 6)
    assert exact_gemma4.last_prefill_tokens == suffix_length("Describe it.", [])
    one = [Turn("Describe it.", exact_gemma4.tokenizer.decode(first))]
    after_first = ctx.last_turn
    second = _tokens(exact_gemma4, ctx, "Where is it?", 4, one)
    reused_prefill = exact_gemma4.last_prefill_tokens
    alone, fresh_prefill = fresh("Where is it?", one, 4, after_first)
    assert alone == second
    assert reused_prefill < fresh_prefill - 6, "the first turn is not prefilled again"
    two = [*one, Turn("Where is it?", exact_gemma4.tokenizer.decode(second))]
    after_second = ctx.last_turn
    third = _tokens(exact_gemma4, ctx, "And then?", 4, two)
    assert exact_gemma4.last_prefill_tokens < suffix_length("And then?", two) // 2
    assert fresh("And then?", two, 4, after_second)[0] == third
    back = _tokens(exact_gemma4, ctx, "Something else?", 4, one)  # cut back into the first turn
    assert fresh("Something else?", one, 4, ctx.last_turn)[0] == back
    assert ctx.cache.get_seq_length() == ctx.prefix_len, "the prefix itself is never changed"


def test_a_follow_up_replays_the_last_answer_as_the_tokens_the_model_wrote(exact_gemma4):
    """The conversation keeps answers with their whitespace evened out (newlines become spaces)
    and re-reading that text gives other tokens: the follow-up's prompt still holds the model's
    own tokens, so it prefills only its new turn; an answer with other words is read as text."""
    ctx = exact_gemma4.encode(_screen(seed=13), "quick")
    first = _tokens(exact_gemma4, ctx, "Describe it.", 12)
    written = exact_gemma4.tokenizer.decode(first, skip_special_tokens=True)
    spoken = " ".join(written.split())
    turn = ctx.last_turn
    assert turn is not None and list(turn.answer_ids) == first
    history = [Turn("Describe it.", spoken)]
    plain = exact_gemma4.parts.ids(exact_gemma4._render("Where is it?", history)[1])
    new_turn = exact_gemma4.parts.ids(exact_gemma4._render("Where is it?", history)[1].split(spoken)[1])
    _tokens(exact_gemma4, ctx, "Where is it?", 2, history)
    assert exact_gemma4.last_prefill_tokens == len(new_turn) < len(plain)

    ctx = exact_gemma4.encode(_screen(seed=14), "quick")
    _tokens(exact_gemma4, ctx, "Describe it.", 12)
    other = [Turn("Describe it.", "A dialog with a Save button.")]
    _tokens(exact_gemma4, ctx, "Where is it?", 2, other)
    rendered = exact_gemma4._render("Where is it?", other)[1]
    assert exact_gemma4.last_prefill_tokens > len(exact_gemma4.parts.ids(rendered.split("Save button.")[1]))


def test_an_answer_cancelled_inside_a_forward_pass_is_not_kept(tiny_gemma4):
    """Stopped between layers, the cache's layers are out of step: the next answer starts from a
    fresh copy of the prefix and answers as before."""
    import dataclasses

    ctx = tiny_gemma4.encode(_screen(seed=12), "quick")
    expected = _tokens(tiny_gemma4, dataclasses.replace(ctx, kept=None, tail_ids=[]), "Describe it.", 3)
    _tokens(tiny_gemma4, ctx, "Other words first.", 3)
    assert ctx.kept is not None and ctx.tail_ids
    cancel = threading.Event()
    layers = tiny_gemma4.model.model.language_model.layers
    handle = layers[1].register_forward_hook(lambda *_: cancel.set())  # layer 2's check stops it
    try:
        with pytest.raises(InterruptedError):
            list(tiny_gemma4.answer(ctx, "Describe it.", cancel=cancel, max_new_tokens=3))
    finally:
        handle.remove()
    assert ctx.kept is None and ctx.tail_ids == []
    assert _tokens(tiny_gemma4, ctx, "Describe it.", 3) == expected
    assert tiny_gemma4.last_prefill_tokens == len(tiny_gemma4.parts.ids(tiny_gemma4._render("Describe it.", [])[1]))


def test_history_is_replayed_as_turns_after_the_image(tiny_gemma4):
    history = [Turn("What is this?", "A settings window."), Turn("Which tab?", "The Privacy tab.")]
    prefix, suffix = tiny_gemma4._render("Is it on?", history)
    assert prefix.endswith(tiny_gemma4.parts.image_token) and suffix.count(tiny_gemma4.parts.image_token) == 0
    order = [suffix.index(t) for t in ("What is this?", "A settings window.", "Which tab?",
                                       "The Privacy tab.", "Is it on?")]
    assert order == sorted(order)
    assert suffix.endswith("<|turn>model\n")
    ctx = tiny_gemma4.encode(_screen(seed=3), "quick")
    assert _tokens(tiny_gemma4, ctx, "Is it on?", 4, history) != _tokens(tiny_gemma4, ctx, "Is it on?", 4)


def test_answers_stream_token_by_token(tiny_gemma4):
    ctx = tiny_gemma4.encode(_screen(seed=4), "quick")
    events: list[tuple[str, object]] = []
    for piece in tiny_gemma4.answer(ctx, "Describe it.", max_new_tokens=10, ignore_eos=True,
                                    on_token=lambda t: events.append(("token", t))):
        events.append(("piece", piece))
    tokens = [i for i, (kind, _) in enumerate(events) if kind == "token"]
    pieces = [i for i, (kind, _) in enumerate(events) if kind == "piece"]
    assert len(tokens) == 10 and len(pieces) >= 2
    assert pieces[0] < tokens[-1], "the first text arrives before the last token is made"


def test_cancel_stops_within_one_token(tiny_gemma4):
    ctx = tiny_gemma4.encode(_screen(seed=5), "quick")
    cancel = threading.Event()
    made: list[int] = []

    def on_token(token: int) -> None:
        made.append(token)
        if len(made) == 3:
            cancel.set()

    list(tiny_gemma4.answer(ctx, "Describe it.", cancel=cancel, max_new_tokens=50, ignore_eos=True,
                            on_token=on_token))
    assert len(made) == 3
    # the prefix is untouched: the next answer is the same as before the cancel
    assert _tokens(tiny_gemma4, ctx, "Describe it.", 5)[:3] == made


def test_a_cancelled_encoding_leaves_nothing_behind(tiny_gemma4):
    cancel = threading.Event()
    cancel.set()
    image = _screen(seed=6)
    calls = tiny_gemma4.vision_encoder_calls
    with pytest.raises(InterruptedError):
        tiny_gemma4.encode(image, "quick", cancel)
    assert tiny_gemma4.vision_encoder_calls == calls
    assert tiny_gemma4.encode(image, "quick").encode_s > 0  # encoded now, not taken from a cache


# -- the image budget -----------------------------------------------------------------------


def test_the_image_budget_follows_the_detail_level(tiny_gemma4):
    image = _screen((1920, 1080), seed=7)
    tokens = {}
    for detail in ("quick", "normal", "high"):
        ctx = tiny_gemma4.encode(image, detail)
        tokens[detail] = ctx.image_tokens
        assert 0.8 * DETAIL_BUDGETS[detail] <= ctx.image_tokens <= DETAIL_BUDGETS[detail]
    assert tokens["quick"] < tokens["normal"] < tokens["high"]
    assert DETAIL_BUDGETS["high"] == 1120 and min(DETAIL_BUDGETS.values()) >= 70


def test_small_images_are_not_scaled_up():
    assert image_budget("high", (200, 150)) == 70
    assert image_budget("high", (640, 480)) == 140
    assert image_budget("quick", (3840, 2160)) == DETAIL_BUDGETS["quick"]
    with pytest.raises(ValueError):
        image_budget("ultra", (640, 480))


# -- spoken questions -----------------------------------------------------------------------


def test_a_spoken_question_is_answered_and_its_words_come_last(tiny_gemma4, speech):
    ctx = tiny_gemma4.encode(_screen(seed=8), "quick")
    audio_calls, vision_calls = tiny_gemma4.audio_encoder_calls, tiny_gemma4.vision_encoder_calls
    items = list(tiny_gemma4.answer_spoken(ctx, tiny_gemma4.hear(speech), max_new_tokens=6,
                                           ignore_eos=True))
    *pieces, last = items
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert isinstance(last, Transcript) and isinstance(last.text, str)
    assert tiny_gemma4.audio_encoder_calls == audio_calls + 1, "the audio is encoded once"
    assert tiny_gemma4.vision_encoder_calls == vision_calls
    # the audio changes the answer: the same instruction without it answers otherwise
    spoken = []
    list(tiny_gemma4.answer_spoken(ctx, tiny_gemma4.hear(speech), max_new_tokens=6, ignore_eos=True,
                                   on_token=spoken.append, transcript_tokens=0))
    assert spoken[:6] != _tokens(tiny_gemma4, ctx, "Answer the question I asked in the recording about "
                                                   "this screen.", 6)


def test_a_cancelled_spoken_answer_gives_no_transcript(tiny_gemma4, speech):
    ctx = tiny_gemma4.encode(_screen(seed=9), "quick")
    cancel = threading.Event()
    items = []
    for item in tiny_gemma4.answer_spoken(ctx, tiny_gemma4.hear(speech), cancel=cancel,
                                          max_new_tokens=40, ignore_eos=True):
        items.append(item)
        cancel.set()
    assert len(items) == 1 and isinstance(items[0], str)


def test_the_model_writes_down_speech_from_the_audio_alone(tiny_gemma4, speech):
    """The SpeechToText interface (Find text by voice without a recognizer): audio encoder once, no image."""
    audio_calls, vision_calls = tiny_gemma4.audio_encoder_calls, tiny_gemma4.vision_encoder_calls
    first = tiny_gemma4.transcribe(speech, "de", max_new_tokens=8)
    assert isinstance(first, Transcript) and first.text and first.language == "de"
    assert first.stats.token_budget == 8 and first.stats.audio_seconds > 1.0
    assert tiny_gemma4.audio_encoder_calls == audio_calls + 1
    assert tiny_gemma4.vision_encoder_calls == vision_calls, "no image goes in"
    assert tiny_gemma4.transcribe(speech, "de", max_new_tokens=8) == first  # greedy: the same words
    other = tiny_gemma4.transcribe(_speech("refund the order now please"), max_new_tokens=8)
    assert other.text != first.text, "the words come from the audio"
    with pytest.raises(AudioError):
        tiny_gemma4.transcribe(np.zeros(RATE, dtype=np.float32))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(InterruptedError):  # stops between layers, as encoding does
        tiny_gemma4.transcribe(speech, cancel=cancel)


def test_silence_is_refused_with_what_to_do():
    for pcm in (np.zeros(RATE * 2, dtype=np.float32),
                (1e-4 * np.random.default_rng(0).standard_normal(RATE * 2)).astype(np.float32)):
        with pytest.raises(AudioError) as err:
            check_audio(pcm)
        assert "silence" in err.value.message and "talk key" in err.value.hint


def test_a_tenth_of_a_second_is_too_short(speech):
    with pytest.raises(AudioError) as err:
        check_audio(speech[len(speech) // 2: len(speech) // 2 + RATE // 10])
    assert "too short" in err.value.message and "Hold the talk key" in err.value.hint


def test_a_minute_long_recording_keeps_its_first_30_seconds(tiny_gemma4, speech):
    pause = np.zeros(RATE // 2, dtype=np.float32)
    minute = np.tile(np.concatenate([speech, pause]), 60 * RATE // (len(speech) + len(pause)) + 1)[: 60 * RATE]
    audio = check_audio(minute)
    assert audio.seconds == pytest.approx(MAX_AUDIO_S)
    assert audio.trimmed_s == pytest.approx(60 - MAX_AUDIO_S, abs=1.0)
    ctx = tiny_gemma4.encode(_screen(seed=10), "quick")
    items = list(tiny_gemma4.answer_spoken(ctx, audio, max_new_tokens=3, ignore_eos=True,
                                           transcript_tokens=2))
    assert isinstance(items[-1], Transcript) and len(items) >= 2


def test_clipped_audio_is_limited_to_full_scale_and_answered(tiny_gemma4, speech):
    loud = speech * 20
    audio = check_audio(loud)
    assert audio.clipped and float(np.max(np.abs(audio.pcm))) <= 1.0
    assert not check_audio(speech).clipped
    ctx = tiny_gemma4.encode(_screen(seed=11), "quick")
    assert any(isinstance(i, str) for i in tiny_gemma4.answer_spoken(ctx, audio, max_new_tokens=3,
                                                                     ignore_eos=True))


def test_damaged_audio_is_refused():
    pcm = np.ones(RATE, dtype=np.float32)
    pcm[100] = np.nan
    with pytest.raises(AudioError) as err:
        check_audio(pcm)
    assert "damaged" in err.value.message
    with pytest.raises(AudioError):
        check_audio(np.zeros(0, dtype=np.float32))


def test_edge_silence_is_cut_before_the_encoder(speech):
    padded = np.concatenate([np.zeros(RATE * 3, np.float32), speech, np.zeros(RATE * 3, np.float32)])
    audio = check_audio(padded)
    assert isinstance(audio, SpokenAudio)
    assert audio.seconds < len(speech) / RATE + 0.5


# -- memory ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bf16_gemma4_dir(tmp_path_factory):
    """The tiny Gemma 4 stored in bfloat16, as the published weights are."""
    from models.synthetic_gemma4 import build_gemma4

    return build_gemma4(tmp_path_factory.mktemp("tiny-gemma4-bf16"), variant="tiny", dtype="bfloat16")


@pytest.mark.parametrize("quantize", [False, True])
def test_computing_in_float32_keeps_the_token_tables_as_stored(bf16_gemma4_dir, quantize):
    """A processor without bf16 computes in float32; the token tables (most of E2B's bytes) stay
    bfloat16 in the mapped file and widen the rows they look up, so the answers are a float32
    model's."""
    import torch
    from transformers import Gemma4ForConditionalGeneration

    model = load_vision_model(bf16_gemma4_dir, device="cpu", quantize=quantize, dtype="float32")
    text = model.model.model.language_model
    tables = {id(text.embed_tokens.weight), id(text.embed_tokens_per_layer.weight)}
    assert {text.embed_tokens.weight.dtype, text.embed_tokens_per_layer.weight.dtype} == {torch.bfloat16}
    others = {p.dtype for p in model.model.parameters() if id(p) not in tables and p.is_floating_point()}
    assert others == {torch.float32}
    assert {b.dtype for b in model.model.buffers() if b.is_floating_point()} == {torch.float32}
    assert model.dtype == torch.float32 and "not in hardware" in model.paths.encoder.reason
    head = model.model.lm_head.weight
    assert head.dtype == (torch.int8 if quantize else torch.float32)
    assert head.data_ptr() != text.embed_tokens.weight.data_ptr()  # the tied head has its own copy

    widened = Gemma4ForConditionalGeneration.from_pretrained(bf16_gemma4_dir, dtype=torch.float32).eval()
    ids = torch.tensor([model.parts.ids("Describe the screen, please.")])
    with torch.inference_mode():
        assert torch.equal(text.embed_tokens(ids), widened.model.language_model.embed_tokens(ids))
        assert torch.equal(text.get_per_layer_inputs(ids), widened.model.language_model.get_per_layer_inputs(ids))
        if not quantize:
            torch.testing.assert_close(model.model(input_ids=ids).logits, widened(input_ids=ids).logits,
                                       rtol=1e-5, atol=1e-5)
    reference = Gemma4Model(widened, model.parts, "cpu", str(bf16_gemma4_dir))
    image = _screen(seed=4)
    model.set_pixel_cache_size(0)
    ctx = model.encode(image, "quick")
    got = _tokens(model, ctx, "Describe it.", 4)
    assert len(got) == 4
    if not quantize:  # int8 weights answer differently from float32 ones, by design
        assert got == _reference_tokens(reference, image, "quick", "Describe it.", [], 4)


def test_memory_is_checked_with_the_tiers_real_needs():
    info = catalog.get_model("gemma4-e2b")
    with pytest.raises(ModelError) as err:
        store.check_memory(info, available_mb=info.ram_mb - 1000)
    assert f"{info.ram_mb} MB" in err.value.message
    assert "smolvlm-500m" in err.value.hint  # the largest model that fits is offered
    store.check_memory(info, available_mb=info.ram_mb + 500)
    e4b = catalog.get_model("gemma4-e4b")
    with pytest.raises(ModelError) as err:
        store.check_memory(e4b, available_mb=info.ram_mb + 500)
    assert "gemma4-e2b" in err.value.hint


def test_a_gemma_folder_is_estimated_by_its_stored_size(tiny_gemma4_dir):
    stored = sum(p.stat().st_size for p in tiny_gemma4_dir.glob("*.safetensors"))
    need = store.estimate_ram_mb(tiny_gemma4_dir)
    assert abs(need - (stored / 1e6 * 1.1 + 500)) <= 2  # bf16/fp32 as stored, not converted
    with pytest.raises(ModelError, match=f"needs about {need} MB"):
        store.check_memory(tiny_gemma4_dir, available_mb=need - 1)


# -- through the engine ----------------------------------------------------------------------


class Listener(EngineListener):
    def __init__(self):
        self.results = []
        self.questions = []
        self.statuses = []

    def on_question(self, request_id, question):
        self.questions.append(question)

    def on_status(self, request_id, message):
        self.statuses.append(message)

    def on_finished(self, result):
        self.results.append(result)


class PromptSpy:
    """The real model, with the prompts of spoken answers written down."""

    def __init__(self, model: Gemma4Model) -> None:
        self.model = model
        self.prompts: list[str] = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def answer_spoken(self, ctx, audio, prompt, **kwargs):
        self.prompts.append(prompt)
        return self.model.answer_spoken(ctx, audio, prompt, **kwargs)


def _recording(pcm: np.ndarray) -> Recording:
    return Recording(pcm=pcm, sample_rate=RATE, started_at=0.0, ended_at=len(pcm) / RATE, device="test",
                     peak=float(np.abs(pcm).max()), rms=float(np.sqrt(np.mean(pcm ** 2))), truncated=False)


@pytest.fixture
def voice_engine(tiny_gemma4):
    listener = Listener()
    spy = PromptSpy(tiny_gemma4)
    backend = ImageBackend(_screen(seed=12))
    engine = Engine(Ready(spy), capture=lambda: backend, listener=listener, language="fr")
    yield engine, listener, spy
    engine.close()


def test_push_to_talk_audio_goes_into_the_model_with_no_recognizer(voice_engine, tiny_gemma4, speech):
    engine, listener, spy = voice_engine
    audio: Future = Future()
    vision, heard = tiny_gemma4.vision_encoder_calls, tiny_gemma4.audio_encoder_calls
    engine.submit(Request(mode="ask", target="window", audio=audio, max_new_tokens=5, speak=False))
    assert _wait(lambda: engine.conversation is not None and engine.conversation.context is not None)
    audio.set_result(_recording(speech))  # the screenshot was encoded while the user talked
    assert engine.wait_idle(120)
    (result,) = listener.results
    assert result.error is None and result.text
    marks = result.trace.marks
    assert marks["encoded"] < marks["speech_end"] < marks["first_token"] < marks["transcribed"]
    assert tiny_gemma4.vision_encoder_calls == vision + 1
    assert tiny_gemma4.audio_encoder_calls == heard + 1
    assert listener.questions == [result.question] and result.question
    assert engine.conversation.turns[-1].question == result.question
    assert "Answer in French." in spy.prompts[0]  # the language setting reaches the model
    # a follow-up by voice replays the first exchange as text and hears only the new audio
    again: Future = Future()
    again.set_result(_recording(_speech("and the button")))
    engine.submit(Request(mode="ask", target=None, audio=again, max_new_tokens=3, speak=False))
    assert engine.wait_idle(120)
    assert listener.results[-1].error is None
    assert tiny_gemma4.vision_encoder_calls == vision + 1
    assert tiny_gemma4.audio_encoder_calls == heard + 2


def test_silence_through_the_engine_is_explained(voice_engine):
    engine, listener, _ = voice_engine
    audio: Future = Future()
    quiet = (1e-4 * np.random.default_rng(1).standard_normal(RATE)).astype(np.float32)
    audio.set_result(_recording(quiet))
    engine.submit(Request(mode="ask", target="window", audio=audio, speak=False))
    assert engine.wait_idle(60)
    error = listener.results[-1].error
    assert error is not None and "silence" in error.message


def test_a_long_question_is_answered_and_the_user_told_what_was_heard(voice_engine, speech):
    engine, listener, _ = voice_engine
    audio: Future = Future()
    long = np.tile(speech, int(40 * RATE / len(speech)) + 1)
    audio.set_result(_recording(long))
    engine.submit(Request(mode="ask", target="window", audio=audio, max_new_tokens=2, speak=False))
    assert engine.wait_idle(120)
    assert listener.results[-1].error is None
    assert any("first 30 seconds" in s for s in listener.statuses)


def test_the_question_through_the_microphone_reaches_the_model(tiny_gemma4):
    """espeak-ng speaks into the PulseAudio "mic" sink; the recorder hears it as a microphone
    would, and the engine answers from that audio."""
    from assistant.speech_in.audio_in import EndPointer, Recorder

    recorder = Recorder(device="pulse")
    recorder.start()
    espeak = subprocess.Popen(["espeak-ng", "--stdout", "what does the red error say"],
                              stdout=subprocess.PIPE)
    try:
        subprocess.run(["paplay", "--device=mic"], stdin=espeak.stdout, check=True, timeout=30)
    finally:
        espeak.stdout.close()
        espeak.wait(timeout=30)
    pointer = EndPointer(sample_rate=recorder.rate, silence_ms=300)
    seen = 0

    def heard_it() -> bool:
        nonlocal seen
        blocks, seen = recorder.new_blocks(seen)
        return any(pointer.feed(block) for block in blocks) or pointer.done

    assert _wait(heard_it), "the spoken question never arrived through PulseAudio"
    recording = recorder.stop()
    listener = Listener()
    engine = Engine(Ready(tiny_gemma4), capture=lambda: ImageBackend(_screen(seed=13)), listener=listener)
    try:
        audio: Future = Future()
        audio.set_result(recording)
        heard = tiny_gemma4.audio_encoder_calls
        engine.submit(Request(mode="ask", target="window", audio=audio, max_new_tokens=3, speak=False))
        assert engine.wait_idle(120)
    finally:
        engine.close()
    (result,) = listener.results
    assert result.error is None and result.text and result.question
    assert tiny_gemma4.audio_encoder_calls == heard + 1


def _wait(condition, deadline_s: float = 60.0) -> bool:
    """Poll until `condition()` holds; False if it never did (a hang guard, not a timing check)."""
    import time

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_clippable_linears_clamp_the_same_with_float_bounds():
    """The load swaps Gemma 4's clippable linears for ones with float bounds: same outputs."""
    import copy
    import types

    import torch
    from transformers.models.gemma4.modeling_gemma4 import Gemma4ClippableLinear

    from models.gemma4 import _scalar_clamp_linears

    torch.manual_seed(3)
    original = torch.nn.Sequential(Gemma4ClippableLinear(types.SimpleNamespace(use_clipped_linears=True), 8, 5))
    clip = original[0]
    clip.input_min.fill_(-0.5), clip.input_max.fill_(0.7), clip.output_min.fill_(-0.2)
    swapped = copy.deepcopy(original)
    assert _scalar_clamp_linears(swapped) == 1 and type(swapped[0]).__name__ != "Gemma4ClippableLinear"
    x = torch.randn(4, 8) * 3
    with torch.inference_mode():
        torch.testing.assert_close(swapped(x), original(x), rtol=0, atol=0)
        assert float(swapped(x).min()) == float(clip.output_min)  # the clamp took effect
