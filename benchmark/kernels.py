"""The benchmark's processor side: the AVX2 cap, the matmul reference per dtype, the OpenVINO peer.

- `--cap-avx2` runs the whole benchmark again in a child process whose kernels are capped to
  AVX2 (torch, oneDNN, MKL and FBGEMM), so the common laptop path is measured on any machine.
- The encoder's achieved GFLOP/s is compared with the matmul probe of the dtype it computes in.
- The peer runs the same tile through the same encoder converted to OpenVINO (when installed),
  interleaved with ours, and reports the ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The kernel caps of each library that picks its instructions at run time.
AVX2_CAP = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
}
PEER_SETTLE_S = 0.3  # idle time before each timed encoder run of the peer comparison
# The matmul probe that bounds each encoder kernel (runtime.measure_matmul's keys).
MATMUL_REFERENCE = {"bfloat16": "bf16_gflops", "int8-dynamic": "int8_gflops", "float32": "fp32_gflops",
                    "float16": "fp32_gflops"}


def run_capped(argv: Sequence[str]) -> int:
    """The benchmark with `argv` in a child process capped to AVX2; its exit status."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, **AVX2_CAP)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-m", "benchmark.run", *argv], env=env, check=False).returncode


def capped_to() -> str | None:
    """The ISA cap this process runs under (from the environment), for the report."""
    from models.cpu_features import isa_cap

    return isa_cap(os.environ)


def matmul_reference(encoder_kernel: str, packed: bool = False) -> str:
    """The matmul probe key to compare an encoder computing in `encoder_kernel` with (`packed`:
    on prepacked kernels; int8 ones are oneDNN's u8s8 matmul)."""
    if packed and encoder_kernel == "int8-dynamic":
        return "u8s8_gflops"
    return MATMUL_REFERENCE.get(encoder_kernel, "fp32_gflops")


def vision_flops_per_tile(model: Any) -> float | None:
    """Floating-point operations of one 512-pixel tile through a SmolVLM vision encoder (None for
    other models)."""
    from models.vision import VisionLanguageModel

    if not isinstance(model, VisionLanguageModel):
        return None
    cfg = model.model.config.vision_config
    d, ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    patches = (cfg.image_size // cfg.patch_size) ** 2
    embed = 2 * patches * d * cfg.num_channels * cfg.patch_size ** 2
    linear = 2 * patches * (4 * d * d + 2 * d * ff)
    attention = 2 * 2 * patches * patches * d
    return float(embed + layers * (linear + attention))


def bench_pixels(model: Any, image: Any) -> Any:
    """One 512-pixel tile of `image` as the processor makes it for the quick detail level."""
    from models.vision import encoder_input

    fitted, kwargs = encoder_input(image, "quick")
    inputs = model.processor(text="<image>", images=[fitted], return_tensors="pt", **kwargs)
    return inputs["pixel_values"]


def peer_openvino(model: Any, image: Any, cache: Path, threads: int, runs: int,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """Our encoder and OpenVINO's on the same tile, interleaved: seconds, GFLOP/s and ratio."""
    import torch

    from models import openvino_encoder

    flops = vision_flops_per_tile(model) or 0.0
    say("Peer: converting the vision encoder to OpenVINO (cached after the first time) ...")
    from models.cpu_features import detect

    # The peer at its best here: bf16 compute wherever the processor has it, whatever ours uses.
    peer, note = openvino_encoder.load(model, cache, threads, bf16=detect().native_bf16)
    out: dict[str, Any] = {"engine": note}
    if peer is None:
        return out
    pixels = bench_pixels(model, image)
    tile = pixels[0]
    with torch.inference_mode():
        ours_features = model.encode_image(pixels)
        peer_features = peer(tile)
        out["cosine_peer_vs_ours"] = round(float(torch.nn.functional.cosine_similarity(
            peer_features.flatten(), ours_features.flatten(), dim=0)), 5)
        times: dict[str, list[float]] = {"ours": [], "openvino": []}
        torch.set_num_threads(threads)
        for _ in range(max(3, runs)):
            for name, call in (("ours", lambda: model.encode_image(pixels)), ("openvino", lambda: peer(tile))):
                # Each engine starts from an idle processor, as after a key press: OpenVINO's
                # worker threads keep spinning a while after a run, and took a core from ours
                # when it ran right after (ours 0.90 s back to back in one run, 0.55 s with pauses in the next).
                time.sleep(PEER_SETTLE_S)
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        out[name] = {"encoder_s_min": round(min(values), 4),
                     "encoder_s_median": round(statistics.median(values), 4),
                     "gflops_best": round(flops / min(values) / 1e9, 1)}
    out["encoder_peer_over_ours"] = round(statistics.median(times["openvino"])
                                          / statistics.median(times["ours"]), 2)
    out["convert_s"] = round(peer.convert_s, 1)
    out["compile_s"] = round(peer.compile_s, 1)
    return out


def format_lines(report: dict[str, Any]) -> list[str]:
    """The processor, path and peer lines of the table."""
    lines = []
    proc = report.get("processor")
    if proc:
        lines.append(f"processor: {proc['description']}")
        lines.append(f"paths: {proc['paths_text']}")
    peer = report.get("peer")
    if peer:
        if "ours" not in peer:
            lines.append(f"peer: {peer['engine']}")
        else:
            ours, ov = peer["ours"], peer["openvino"]
            lines.append(
                f"peer encoder, 1 tile ({peer['engine']}): ours {ours['encoder_s_median']:.3f} s "
                f"({ours['gflops_best']:.0f} GFLOP/s), OpenVINO {ov['encoder_s_median']:.3f} s "
                f"({ov['gflops_best']:.0f} GFLOP/s); OpenVINO / ours {peer['encoder_peer_over_ours']:.2f} "
                f"(>= 1.0: ours faster); cosine {peer['cosine_peer_vs_ours']}")
    return lines
