"""The vision-language wrapper on a tiny random-weight SmolVLM built with the real classes."""

import threading

import pytest
from PIL import Image, ImageDraw

from base.turns import Turn
from benchmark import kernels
from models.cpu_features import Feature, Processor
from models.kernel_paths import Kernel
from models.vision import VisionLanguageModel, encoder_input, tiling_kwargs


def _screenshot(size=(1280, 720)):
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, size[0] - 40, 120), fill="navy")
    draw.text((60, 60), "Error: file not found", fill="white")
    return image


def test_follow_ups_reuse_the_encoded_image(tiny_vlm):
    before = tiny_vlm.vision_encoder_calls
    ctx = tiny_vlm.encode(_screenshot(), "quick")
    assert tiny_vlm.vision_encoder_calls == before + 1
    first = "".join(tiny_vlm.answer(ctx, "Describe the screen.", max_new_tokens=8, ignore_eos=True))
    history = [Turn("Describe the screen.", first)]
    for question in ("What does the error say?", "Which colour is the bar?", "Anything else?"):
        text = "".join(tiny_vlm.answer(ctx, question, max_new_tokens=8, history=history,
                                       ignore_eos=True))
        assert text
        history.append(Turn(question, text))
    assert tiny_vlm.vision_encoder_calls == before + 1
    assert ctx.cache.get_seq_length() == ctx.prefix_len


def test_same_prompt_gives_same_answer_after_follow_ups(tiny_vlm):
    ctx = tiny_vlm.encode(_screenshot(), "quick")
    first = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=6, ignore_eos=True))
    "".join(tiny_vlm.answer(ctx, "Something else entirely?", max_new_tokens=6, ignore_eos=True))
    again = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=6, ignore_eos=True))
    assert first == again


def test_cancel_stops_within_one_token(tiny_vlm):
    ctx = tiny_vlm.encode(_screenshot(), "quick")
    cancel = threading.Event()
    tokens = []
    stream = tiny_vlm.answer(ctx, "Describe.", cancel=cancel, max_new_tokens=100, ignore_eos=True,
                             on_token=tokens.append)
    for _piece in stream:
        if len(tokens) == 3:
            cancel.set()
    assert len(tokens) == 3
    assert ctx.cache.get_seq_length() == ctx.prefix_len


@pytest.mark.parametrize(
    ("detail", "size", "tiles"),
    [("quick", (1920, 1080), 1), ("normal", (1920, 1080), 5), ("high", (1920, 1080), 13),
     ("high", (400, 300), 1), ("normal", (900, 600), 5)],
)
def test_detail_decides_tiles(tiny_vlm, detail, size, tiles):
    ctx = tiny_vlm.encode(Image.new("RGB", size, "gray"), detail)
    assert ctx.tiles == tiles
    # every tile becomes 64 image tokens in the prefix
    assert ctx.prefix_len > 64 * tiles


def test_small_images_are_not_scaled_up():
    assert tiling_kwargs("high", (400, 300)) == {"do_image_splitting": False}
    assert tiling_kwargs("high", (900, 600))["size"] == {"longest_edge": 1024}
    with pytest.raises(ValueError):
        tiling_kwargs("ultra", (10, 10))


def test_prompt_keeps_history_after_the_image(tiny_vlm):
    prefix, rest = tiny_vlm._render("Second?", [Turn("First?", "An answer.")])
    assert prefix.endswith("<image>")
    assert rest.index("First?") < rest.index("An answer.") < rest.index("Second?")
    assert rest.endswith("Assistant:")


def test_quantized_model_answers(tiny_vlm_dir):
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True)
    ctx = model.encode(_screenshot(), "quick")
    assert "".join(model.answer(ctx, "Describe.", max_new_tokens=4, ignore_eos=True))


def _text_lengths(model):
    """Sequence lengths the text model is run on (a forward pre-hook), and its handle."""
    lengths = []

    def hook(_module, args, kwargs):
        embeds = kwargs.get("inputs_embeds")
        lengths.append(int(embeds.shape[1]) if embeds is not None else 0)

    handle = model.model.model.text_model.register_forward_pre_hook(hook, with_kwargs=True)
    return lengths, handle


def test_follow_up_reuses_kept_tokens_and_answers_the_same(tiny_vlm):
    import dataclasses

    ctx = tiny_vlm.encode(_screenshot((800, 500)), "quick")
    first = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=8, ignore_eos=True))
    history = [Turn("Describe.", first)]
    assert ctx.tail_ids, "the answer's keys and values are kept for the next prompt"
    lengths, handle = _text_lengths(tiny_vlm)
    try:
        reused = "".join(tiny_vlm.answer(ctx, "And the title?", max_new_tokens=6,
                                         history=history, ignore_eos=True))
        fresh_ctx = dataclasses.replace(ctx, tail_ids=[], tail=[])
        fresh = "".join(tiny_vlm.answer(fresh_ctx, "And the title?", max_new_tokens=6,
                                        history=history, ignore_eos=True))
    finally:
        handle.remove()
    assert reused == fresh
    # one prefill + 6 steps each; the reusing prefill ran on fewer tokens
    assert len(lengths) == 14
    assert lengths[0] < lengths[7]
    assert ctx.cache.get_seq_length() == ctx.prefix_len


def test_a_follow_up_replays_the_answer_as_the_models_tokens_whatever_its_whitespace(tiny_vlm):
    """The conversation may keep the answer with other whitespace (a newline per word here):
    the follow-up still holds the model's own tokens and runs only its new turn."""
    ctx = tiny_vlm.encode(_screenshot((640, 420)), "quick")
    first = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=8, ignore_eos=True))
    assert first.split()
    respaced = "\n".join(first.split())
    history = [Turn("Describe.", respaced)]
    suffix = tiny_vlm._render("And the title?", history)[1]
    assert suffix.count(respaced) == 1
    new_turn = tiny_vlm._ids(suffix.split(respaced)[1])
    lengths, handle = _text_lengths(tiny_vlm)
    try:
        assert "".join(tiny_vlm.answer(ctx, "And the title?", max_new_tokens=2, history=history,
                                       ignore_eos=True))
    finally:
        handle.remove()
    assert lengths[0] == len(new_turn) < len(tiny_vlm._ids(suffix)) - 8


def test_prefill_only_makes_the_same_prompt_start_at_once(tiny_vlm):
    ctx = tiny_vlm.encode(_screenshot((700, 400)), "quick")
    assert list(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=0)) == []
    lengths, handle = _text_lengths(tiny_vlm)
    try:
        text = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=3, ignore_eos=True))
    finally:
        handle.remove()
    assert text and lengths[0] == 1


def test_same_pixels_are_encoded_once(tiny_vlm):
    image = _screenshot((1000, 600))
    before = tiny_vlm.vision_encoder_calls
    first = tiny_vlm.encode(image, "quick")
    second = tiny_vlm.encode(image.copy(), "quick")
    assert tiny_vlm.vision_encoder_calls == before + 1
    assert second.cache is first.cache and second.encode_s == 0.0
    tiny_vlm.encode(image, "normal")
    assert tiny_vlm.vision_encoder_calls == before + 2


def test_pixel_cache_can_be_cleared_and_turned_off(tiny_vlm):
    image = _screenshot((900, 500))
    kept = tiny_vlm.pixel_cache_size
    assert kept > 0
    try:
        tiny_vlm.encode(image, "quick")
        before = tiny_vlm.vision_encoder_calls
        tiny_vlm.encode(image, "quick")
        assert tiny_vlm.vision_encoder_calls == before  # kept
        tiny_vlm.clear_pixel_cache()
        tiny_vlm.encode(image, "quick")
        assert tiny_vlm.vision_encoder_calls == before + 1  # forgotten: encoded again
        tiny_vlm.set_pixel_cache_size(0)
        tiny_vlm.encode(image, "quick")
        tiny_vlm.encode(image, "quick")
        assert tiny_vlm.vision_encoder_calls == before + 3  # off: every encode runs the encoder
        with pytest.raises(ValueError, match="0 or more"):
            tiny_vlm.set_pixel_cache_size(-1)
    finally:
        tiny_vlm.set_pixel_cache_size(kept)
    assert tiny_vlm.pixel_cache_size == kept


def test_cancel_stops_the_vision_encoder_between_layers(tiny_vlm):
    cancel = threading.Event()
    layer = tiny_vlm.model.model.vision_model.encoder.layers[0]
    handle = layer.register_forward_hook(lambda *_: cancel.set())
    before = tiny_vlm.vision_encoder_calls
    try:
        with pytest.raises(InterruptedError):
            tiny_vlm.encode(_screenshot((900, 500)), "quick", cancel=cancel)
    finally:
        handle.remove()
    assert tiny_vlm.vision_encoder_calls == before
    ctx = tiny_vlm.encode(_screenshot((900, 500)), "quick")  # nothing half-done was cached
    assert ctx.encode_s > 0


AVX2 = Processor("x86_64", frozenset({Feature.AVX2}))
AMX = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_BF16,
                                     Feature.AMX_TILE, Feature.AMX_BF16, Feature.AMX_INT8}))


def test_quantized_load_on_avx2_converts_every_linear_layer(tiny_vlm_dir):
    import torch

    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=AVX2)
    plain = [name for name, m in model.model.named_modules() if type(m) is torch.nn.Linear]
    assert plain == []
    assert all(p.dtype == torch.float32 for p in model.model.parameters())
    assert model.paths.encoder.kernel is Kernel.INT8_DYNAMIC
    assert kernels.vision_flops_per_tile(model) > 0


def test_quantized_load_on_amx_keeps_a_bf16_encoder_beside_the_int8_language_model(tiny_vlm_dir):
    import torch

    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=AMX)
    plain = [name for name, m in model.model.named_modules() if type(m) is torch.nn.Linear]
    assert plain and all(name.startswith(("model.vision_model.", "model.connector.")) for name in plain)
    encoder = [*model.model.model.vision_model.parameters(), *model.model.model.connector.parameters()]
    assert {p.dtype for p in encoder} == {torch.bfloat16}
    text = {p.dtype for p in model.model.model.text_model.parameters()}
    assert text == {torch.float32}
    ctx = model.encode(_screenshot(), "quick")
    assert "".join(model.answer(ctx, "Describe.", max_new_tokens=4, ignore_eos=True))


def test_bf16_encoder_output_matches_float32(tiny_vlm_dir):
    import torch

    reference = VisionLanguageModel.load(tiny_vlm_dir, dtype="float32")
    fast = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=AMX)
    assert reference.encoder_dtype == torch.float32 and fast.encoder_dtype == torch.bfloat16
    image, kwargs = encoder_input(_screenshot(), "normal")
    inputs = reference.processor(text="<image>", images=[image], return_tensors="pt", **kwargs)
    with torch.inference_mode():
        want = reference.encode_image(inputs["pixel_values"], inputs["pixel_attention_mask"])
        got = fast.encode_image(inputs["pixel_values"], inputs["pixel_attention_mask"])
    assert got.shape == want.shape and got.shape[0] == 64 * inputs["pixel_values"].shape[1]
    assert got.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.99


def test_encode_returns_what_it_cost(tiny_vlm):
    image = _screenshot((820, 520))
    first = tiny_vlm.encode(image, "normal")
    assert first.vision_tiles == first.tiles > 1
    assert first.vision_s > 0 and first.encode_s >= first.vision_s and first.preprocess_s > 0
    again = tiny_vlm.encode(image.copy(), "normal")  # the same pixels: nothing runs
    assert again.cache is first.cache
    assert (again.vision_tiles, again.vision_s, again.encode_s, again.preprocess_s) == (0, 0.0, 0.0, 0.0)
