"""The vision-language wrapper on a tiny random-weight SmolVLM built with the real classes."""

import threading

import pytest
from PIL import Image, ImageDraw

from models.vision import Turn, VisionLanguageModel, tiling_kwargs


def _screenshot(size=(1280, 720)):
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, size[0] - 40, 120), fill="navy")
    draw.text((60, 60), "Error: file not found", fill="white")
    return image


def test_follow_ups_reuse_the_encoded_image(tiny_vlm):
    before = tiny_vlm.vision_encoder_calls
    ctx = tiny_vlm.prepare(_screenshot(), "quick")
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
    ctx = tiny_vlm.prepare(_screenshot(), "quick")
    first = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=6, ignore_eos=True))
    "".join(tiny_vlm.answer(ctx, "Something else entirely?", max_new_tokens=6, ignore_eos=True))
    again = "".join(tiny_vlm.answer(ctx, "Describe.", max_new_tokens=6, ignore_eos=True))
    assert first == again


def test_cancel_stops_within_one_token(tiny_vlm):
    ctx = tiny_vlm.prepare(_screenshot(), "quick")
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
    ctx = tiny_vlm.prepare(Image.new("RGB", size, "gray"), detail)
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


def test_naive_generate_runs(tiny_vlm):
    text = tiny_vlm.generate_naive(_screenshot((640, 480)), "Describe.", max_new_tokens=4,
                                   ignore_eos=True)
    assert isinstance(text, str) and text


def test_quantized_model_answers(tiny_vlm_dir):
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True)
    ctx = model.prepare(_screenshot(), "quick")
    assert "".join(model.answer(ctx, "Describe.", max_new_tokens=4, ignore_eos=True))
