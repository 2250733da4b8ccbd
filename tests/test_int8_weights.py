"""int8 weight-only linear layers and their cache: the Gemma 4 language model's CPU path."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")

from models import int8_activations, int8_cache, int8_weights  # noqa: E402
from models.kernel_paths import Kernel  # noqa: E402


def _cosine(a, b) -> float:
    return float(torch.nn.functional.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("rows", [1, 3, int8_weights.FEW_ROWS, int8_weights.FEW_ROWS + 1, 70])
def test_int8_linear_computes_what_the_float_linear_computes(dtype, rows):
    torch.manual_seed(rows)
    linear = torch.nn.Linear(96, 80, bias=True).to(dtype)
    q = int8_weights.int8_linear(linear, int8_weights.WidenedWeights())
    x = torch.randn(2, rows, 96, dtype=dtype)
    with torch.inference_mode():
        want, got = linear(x), q(x)
    assert got.shape == want.shape and got.dtype == dtype
    assert _cosine(got, want) > 0.9995
    assert q.weight.dtype == torch.int8


def test_quantize_rows_rounds_each_row_to_within_half_a_step():
    torch.manual_seed(0)
    weight = torch.randn(40, 64) * torch.linspace(0.01, 10, 40)[:, None]
    weight[7] = 0.0  # an all-zero row gets a usable scale
    q, scale = int8_weights.quantize_rows(weight, chunk=16)
    assert q.dtype == torch.int8 and int(q.abs().max()) == 127
    assert torch.all(scale > 0)
    error = (q.float() * scale[:, None] - weight).abs()
    assert torch.all(error <= scale[:, None] / 2 + 1e-6)
    assert torch.all(q[7] == 0)


def test_widened_weights_reuse_one_buffer_per_thread():
    scratch = int8_weights.WidenedWeights()
    small = torch.randint(-127, 127, (8, 16), dtype=torch.int8)
    big = torch.randint(-127, 127, (32, 16), dtype=torch.int8)
    first = scratch.widen(big, torch.bfloat16)
    again = scratch.widen(small, torch.bfloat16)
    assert again.data_ptr() == first.data_ptr()  # no new allocation for a smaller weight
    assert torch.equal(again, small.to(torch.bfloat16))


def test_layers_of_other_widths_keep_their_float_weights():
    model = torch.nn.Sequential(torch.nn.Linear(32, 24), torch.nn.Linear(24, 16), torch.nn.Linear(16, 8))
    assert int8_weights.quantizable(model) == ["0", "2"]
    made = int8_weights.quantize_linears(model, int8_weights.WidenedWeights())
    assert sorted(made) == ["0.scale", "0.weight", "2.scale", "2.weight"]
    assert type(model[1]) is torch.nn.Linear
    with pytest.raises(ValueError, match="multiple of 16"):
        int8_weights.int8_linear(torch.nn.Linear(24, 8), int8_weights.WidenedWeights())


def test_the_kernel_is_available_here():
    ok, why = int8_weights.available()
    assert ok, why


def _fresh_gemma(tiny_gemma4_dir, tmp_path):
    folder = tmp_path / "gemma"
    shutil.copytree(tiny_gemma4_dir, folder)
    return folder


def test_gemma4_on_the_cpu_gets_int8_weights_close_to_its_float_weights(tiny_gemma4_dir, tmp_path):
    from models.gemma4 import Gemma4Model

    folder = _fresh_gemma(tiny_gemma4_dir, tmp_path)
    cache = tmp_path / "int8"
    plain = Gemma4Model.load(folder, device="cpu", dtype="float32", quantize=False)
    int8 = Gemma4Model.load(folder, device="cpu", dtype="float32", quantize=True, int8_cache=cache)
    assert int8.quantized and not plain.quantized
    assert "prefill int8-weights" in int8.paths.describe()
    assert "decode int8-weights" in int8.paths.describe()
    assert "int8" not in plain.paths.describe()
    layers = [m for m in int8.model.modules() if type(m).__name__ == "Int8WeightLinear"]
    assert len(layers) > 10 and type(int8.model.lm_head).__name__ == "Int8WeightLinear"
    assert all(type(m).__name__ != "Int8WeightLinear" for m in int8.model.model.vision_tower.modules())
    ids = torch.tensor([plain.parts.ids("What does this window show? Read its title.")])
    with torch.inference_mode():
        # One token runs the int8 kernel, the whole prompt the widened weights. A random
        # 6-layer model spreads rounding through attention; bf16 weights give 0.997 there.
        for length, least in ((1, 0.999), (ids.shape[1], 0.97)):
            want = plain.model(input_ids=ids[:, :length]).logits
            got = int8.model(input_ids=ids[:, :length]).logits
            assert _cosine(got, want) > least
    assert len(list(cache.glob("gemma-*.safetensors"))) == 1


def test_a_second_load_reads_the_kept_int8_weights_instead_of_quantizing(tiny_gemma4_dir, tmp_path, monkeypatch):
    """The first load reports its progress layer by layer; the second prepares nothing."""
    from models.gemma4 import Gemma4Model

    folder = _fresh_gemma(tiny_gemma4_dir, tmp_path)
    cache = tmp_path / "int8"
    fractions: list[float] = []
    first = Gemma4Model.load(folder, device="cpu", quantize=True, int8_cache=cache, progress=fractions.append)
    layers = sum(type(m).__name__ == "Int8WeightLinear" for m in first.model.model.language_model.modules())
    assert len(fractions) == layers > 1
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] == 1.0
    calls = []
    real = int8_weights.quantize_rows
    monkeypatch.setattr(int8_weights, "quantize_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
    again: list[float] = []
    second = Gemma4Model.load(folder, device="cpu", quantize=True, int8_cache=cache, progress=again.append)
    assert calls == [] and again == []
    assert torch.equal(first.model.lm_head.weight, second.model.lm_head.weight)
    assert torch.equal(first.model.model.language_model.layers[0].mlp.up_proj.weight,
                       second.model.model.language_model.layers[0].mlp.up_proj.weight)


def test_a_corrupt_cache_file_is_made_again(tiny_gemma4_dir, tmp_path):
    from models.gemma4 import Gemma4Model

    folder = _fresh_gemma(tiny_gemma4_dir, tmp_path)
    cache = tmp_path / "int8"
    cache.mkdir()
    int8_cache.cache_file(cache, folder).write_bytes(b"not a safetensors file")
    assert int8_cache.load(cache, folder) is None
    model = Gemma4Model.load(folder, device="cpu", quantize=True, int8_cache=cache)
    assert model.quantized
    assert int8_cache.load(cache, folder) is not None


def test_saving_replaces_the_folders_older_file_and_keeps_other_models(tmp_path):
    model_a, model_b = tmp_path / "gemma", tmp_path / "gemma-large"
    for folder in (model_a, model_b):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    cache = tmp_path / "int8"
    tensors = {"x.weight": torch.ones(2, 16, dtype=torch.int8), "x.scale": torch.ones(2)}
    old_a = int8_cache.save(cache, model_a, tensors)
    kept_b = int8_cache.save(cache, model_b, tensors)
    (model_a / "config.json").write_text('{"changed": true}')
    new_a = int8_cache.save(cache, model_a, tensors)
    assert new_a != old_a and not old_a.exists()
    assert new_a.exists() and kept_b.exists()
    assert torch.equal(int8_cache.load(cache, model_a)["x.weight"], tensors["x.weight"])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_a_weight_off_the_kernels_alignment_is_copied_and_computes_right(dtype):
    """torch's bf16 weight-only kernel faults on an int8 weight 8 bytes off a 64-byte boundary
    (where a safetensors file can put it) once 4 rows come; the layer copies such a weight."""
    torch.manual_seed(5)
    base = torch.randint(-127, 128, (64 * 96 + 8,), dtype=torch.int8)
    weight = base[8:].view(64, 96)
    assert weight.data_ptr() % int8_weights.KERNEL_ALIGNMENT
    layer = int8_weights._make_linear_class()(weight, torch.full((64,), 0.01), None, dtype,
                                              int8_weights.WidenedWeights())
    assert layer.weight.data_ptr() % int8_weights.KERNEL_ALIGNMENT == 0 and torch.equal(layer.weight, weight)
    x = torch.randn(4, 96, dtype=dtype)
    with torch.inference_mode():
        got = layer(x)
    assert got.dtype == dtype and _cosine(got, x.float() @ weight.float().T * 0.01) > 0.999


def test_weights_loaded_from_the_kept_file_are_aligned_for_the_kernel(tmp_path):
    folder = tmp_path / "gemma"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    cache = tmp_path / "int8"
    # an odd-length name and a 3-value scale put the data of the tensors after them off 64 bytes
    tensors = {"a.scale": torch.ones(3), "b.weight": torch.randint(-127, 128, (8, 64), dtype=torch.int8),
               "c.weight": torch.randint(-127, 128, (16, 64), dtype=torch.int8)}
    int8_cache.save(cache, folder, tensors)
    loaded = int8_cache.load(cache, folder)
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor)
        assert loaded[name].data_ptr() % int8_weights.KERNEL_ALIGNMENT == 0


def test_a_full_disk_keeps_nothing_and_says_so(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "gemma"
    folder.mkdir()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(int8_cache.shutil, "disk_usage", lambda _p: usage._replace(free=1000))
    with caplog.at_level("INFO", logger="models.int8_cache"):
        assert int8_cache.save(tmp_path / "int8", folder, {"w": torch.ones(4, dtype=torch.int8)}) is None
    assert "not kept" in caplog.text
    assert int8_cache.load(tmp_path / "int8", folder) is None


def _int8_layer(rows_out: int = 384, columns: int = 256, dtype=torch.bfloat16):
    torch.manual_seed(7)
    linear = torch.nn.Linear(columns, rows_out, bias=False).to(dtype)
    return int8_weights.int8_linear(linear, int8_weights.WidenedWeights())


def test_int8_activations_compute_what_the_weight_only_layer_computes():
    assert int8_weights.activations_available() == (True, "")
    layer = _int8_layer()
    calibration = torch.randn(32, 256, dtype=torch.bfloat16)
    inputs = {rows: torch.randn(rows, 256, dtype=torch.bfloat16) for rows in (1, 16, 150)}
    want = {rows: layer(x).float() for rows, x in inputs.items()}
    cosine = int8_weights.use_int8_activations(layer, calibration)
    assert cosine > int8_weights.ACTIVATION_COSINE
    assert layer.packed is not None and layer.weight.numel() == 0  # no second copy of the weights
    for rows, x in inputs.items():
        got = layer(x)
        assert got.dtype == torch.bfloat16 and got.shape == (rows, 384)
        assert _cosine(got.float(), want[rows]) > 0.999


def test_a_layer_whose_inputs_have_outliers_keeps_its_int8_weights_only():
    """A few channels 100x larger than the rest (as language models' MLP outputs have): per-row
    int8 activations would lose the small ones, so the layer stays as it was."""
    layer = _int8_layer()
    calibration = torch.randn(32, 256, dtype=torch.bfloat16)
    calibration[:, :4] *= 100
    x = torch.randn(4, 256, dtype=torch.bfloat16)
    want = layer(x)
    cosine = int8_weights.use_int8_activations(layer, calibration)
    assert cosine < int8_weights.ACTIVATION_COSINE
    assert layer.packed is None and layer.weight.shape == (384, 256)
    assert torch.equal(layer(x), want)


def test_a_layer_too_large_for_one_slice_is_packed_in_row_blocks_and_answers_the_same_throughout(monkeypatch):
    """An output head takes seconds to pack whole: it is packed a row block per slice, answers
    on its int8 weights until the last block is made, then through the blocks joined."""
    from models.int8_activations import ActivationSwitch

    monkeypatch.setattr(int8_weights, "WHOLE_WEIGHTS", 256 * 100)
    monkeypatch.setattr(int8_weights, "PIECE_WEIGHTS", 256 * 100)  # 100 rows: 4 blocks of 384
    monkeypatch.setattr(int8_activations, "SLICE_WEIGHTS", 256 * 100)  # one block per slice
    root = torch.nn.Sequential(_int8_layer())
    layer = root[0]
    x = torch.randn(3, 256, dtype=torch.bfloat16)
    want = layer(x)
    switch = ActivationSwitch(root, lambda: root(torch.randn(8, 256, dtype=torch.bfloat16)))
    slices = 0
    while switch.step():
        slices += 1
        if not switch.done:
            assert layer.packed is None and torch.equal(layer(x), want)  # weight-only until then
    assert slices == 4  # the calibration, then blocks 1-3; the 4th block ends the last step
    assert layer.packed is not None and len(layer.packed) == 4 and layer.weight.numel() == 0
    assert switch.switched == 1 and not switch.kept
    got = layer(x)
    assert got.shape == (3, 384) and _cosine(got.float(), want.float()) > 0.999


def test_gemma4_moves_to_int8_activations_step_by_step_and_stays_close_to_float32(tiny_gemma4_dir, tmp_path):
    from models.gemma4 import Gemma4Model

    folder = _fresh_gemma(tiny_gemma4_dir, tmp_path)
    plain = Gemma4Model.load(folder, device="cpu", dtype="float32", quantize=False)
    model = Gemma4Model.load(folder, device="cpu", dtype="float32", quantize=True, int8_cache=tmp_path / "int8")
    assert model.paths.decode.kernel is Kernel.INT8_WEIGHTS
    steps = 0
    while model.prepare_step():
        steps += 1
    assert steps >= 1  # the calibration prompt, then slices of layers
    layers = [m for m in model.model.modules() if hasattr(m, "packed")]
    switched = [m for m in layers if m.packed is not None]
    assert switched and model.paths.decode.kernel is Kernel.INT8_DYNAMIC
    assert model.model.lm_head.packed is not None  # the output head too (the largest layer)
    assert f"in {len(switched)} layers" in model.paths.decode.reason
    assert not model.prepare_step()
    ids = torch.tensor([model.parts.ids("What does this window show? Read its title.")])
    with torch.inference_mode():
        # As close as int8 weights alone are (0.999 and 0.97, test above); this random 6-layer
        # model spreads rounding through attention (bf16 weights give 0.997 on one token).
        for length, least in ((1, 0.999), (ids.shape[1], 0.97)):
            want = plain.model(input_ids=ids[:, :length]).logits
            got = model.model(input_ids=ids[:, :length]).logits
            assert _cosine(got, want) > least
