"""Token tables left in the dtype they are stored in while the rest of a model computes wider.

On a CPU without native bf16 a model computes in float32, but its token tables are only looked
up, a few rows per token. Gemma 4 E2B's are 2.76 B values (the embedding and the per-layer
embeddings, bfloat16 in its files): loaded as float32 they are 11 GB, and the benchmark's E2B
process held 15.3 GB on a 2-core AVX-512 VNNI Xeon without BF16. Kept as stored they stay in
the mapped weight file and only the rows looked up are ever read; each row is widened as it is
looked up, which gives exactly the values a float32 table holds.
"""

from __future__ import annotations

from typing import Any


def keep_tables_narrow(model: Any, dtype: Any) -> list[str]:
    """Convert every floating tensor of `model` to `dtype` except its embedding tables, which
    keep their dtype and widen what they look up; the names of the tables kept.

    A module that shares a table's weight (an output head tied to the embedding) gets its own
    `dtype` copy, as it multiplies by the whole table.
    """
    import torch

    tables = {name: module for name, module in model.named_modules()
              if isinstance(module, torch.nn.Embedding) and module.weight.dtype != dtype}
    kept = {id(module) for module in tables.values()}
    shared = {id(module.weight) for module in tables.values()}
    for module in model.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            if id(module) in kept and name == "weight":
                continue
            if id(parameter) in shared:
                setattr(module, name, torch.nn.Parameter(parameter.detach().to(dtype), requires_grad=False))
            elif parameter.is_floating_point() and parameter.dtype != dtype:
                parameter.data = parameter.data.to(dtype)
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is not None and buffer.is_floating_point() and buffer.dtype != dtype:
                module._buffers[name] = buffer.to(dtype)
    for module in tables.values():
        _widen_lookups(module, dtype)
    return sorted(tables)


def _widen_lookups(table: Any, dtype: Any) -> None:
    """Make `table` return its rows in `dtype`, scaled as its own forward scales them (Gemma's
    scaled embeddings multiply by a constant) but in `dtype`, as a table of that dtype would."""
    import torch

    scale = getattr(table, "scalar_embed_scale", None)

    def lookup(input_ids: torch.Tensor) -> torch.Tensor:
        rows = torch.nn.functional.embedding(input_ids, table.weight, table.padding_idx).to(dtype)
        return rows if scale is None else rows * torch.tensor(scale, dtype=dtype)

    table.forward = lookup
