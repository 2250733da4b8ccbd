"""The models ScreenSight knows, as immutable data: hub id, pinned revision, sizes, licence, files.

Revisions and weight-file sha256 values are those published on the Hugging Face hub for the
pinned commit (the git-LFS object id of each weight file is its sha256).
"""

from __future__ import annotations

from dataclasses import dataclass

from base.errors import ModelError
from base.vocabulary import Role, choices

# config.json "model_type" -> (family, role) of the architectures the loaders can run.
SUPPORTED_MODEL_TYPES: tuple[tuple[str, str, Role], ...] = (
    ("idefics3", "idefics3", Role.VISION),
    ("moonshine", "moonshine", Role.SPEECH),
    ("whisper", "whisper", Role.SPEECH),
)

# Files each family needs besides config.json and the weights. Each requirement is a tuple of
# alternatives; an alternative is a tuple of files that must all be present.
_TOKENIZER = (("tokenizer.json",), ("vocab.json", "merges.txt"), ("tokenizer.model",))
_PREPROCESSOR = (("preprocessor_config.json",),)
REQUIRED_FILES: tuple[tuple[str, tuple[tuple[tuple[str, ...], ...], ...]], ...] = (
    ("idefics3", (_TOKENIZER, _PREPROCESSOR)),
    ("moonshine", (_TOKENIZER,)),
    ("whisper", (_TOKENIZER, _PREPROCESSOR)),
)

# Weight and code formats that are never downloaded or loaded: pickles can run code, and the
# others are formats the loaders do not read.
REFUSED_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle", "*.py",
                    "*.onnx", "*.onnx_data", "*.msgpack", "*.h5", "*.gguf", "*.tflite")
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")

# Everything a transformers folder needs: configs, tokenizer files, chat templates, safetensors.
DEFAULT_ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer.model")

_WHISPER_LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha",
    "ba", "jw", "su", "yue",
)


@dataclass(frozen=True)
class ModelInfo:
    """One downloadable model. Sizes are in MB of 10**6 bytes."""

    id: str
    repo_id: str
    revision: str
    role: Role
    family: str
    label: str
    size_mb: int
    ram_mb: int
    licence: str
    languages: tuple[str, ...]
    good_for: str
    files: tuple[tuple[str, str], ...] = ()
    allow_patterns: tuple[str, ...] = DEFAULT_ALLOW_PATTERNS

    def expected_sha256(self, filename: str) -> str | None:
        """The pinned sha256 of a file, or None where the catalog does not pin one."""
        for name, digest in self.files:
            if name == filename:
                return digest
        return None


# ram_mb: fp32 weights (the CPU loaders use float32) x 1.3 for activations and the KV cache,
# plus 200 MB for the runtime. Measured numbers belong to the benchmark, not here.
_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="smolvlm-256m",
        repo_id="HuggingFaceTB/SmolVLM-256M-Instruct",
        revision="7e3e67edbbed1bf9888184d9df282b700a323964",
        role=Role.VISION,
        family="idefics3",
        label="SmolVLM 256M (fast, default)",
        size_mb=518,
        ram_mb=1500,
        licence="Apache-2.0",
        languages=("en",),
        good_for="Quick descriptions of the screen and reading text on any laptop CPU; English.",
        files=(("model.safetensors",
                "74dea5904032e5ae99a2e0eef5179e6ac0f1dedc3ab0c7c2a5d4d387c843203e"),),
    ),
    ModelInfo(
        id="smolvlm-500m",
        repo_id="HuggingFaceTB/SmolVLM-500M-Instruct",
        revision="a7da5b986cb59b408707209984f360a5f4ad7e47",
        role=Role.VISION,
        family="idefics3",
        label="SmolVLM 500M (balanced)",
        size_mb=1020,
        ram_mb=2800,
        licence="Apache-2.0",
        languages=("en",),
        good_for="More accurate descriptions and answers; about twice as slow as 256M; English.",
        files=(("model.safetensors",
                "d05b567eeaf534e83d375551f068ed57b5f52d37c657197f644af5ef9db091a2"),),
    ),
    ModelInfo(
        id="moonshine-tiny",
        repo_id="UsefulSensors/moonshine-tiny",
        revision="390624ed33d594443aa4aa221f5b9f283b545b5a",
        role=Role.SPEECH,
        family="moonshine",
        label="Moonshine Tiny (fast, default)",
        size_mb=110,
        ram_mb=350,
        licence="MIT",
        languages=("en",),
        good_for="Fast English questions; no 30-second padding, so short questions are quick.",
        files=(("model.safetensors",
                "867cd2215804859c55aa972d740bd5002be149b4e7526328c895d2408848c736"),),
    ),
    ModelInfo(
        id="moonshine-base",
        repo_id="UsefulSensors/moonshine-base",
        revision="7a73d8d55ac0ba2ef3ae761593f6784b51f96dcf",
        role=Role.SPEECH,
        family="moonshine",
        label="Moonshine Base (more accurate English)",
        size_mb=248,
        ram_mb=550,
        licence="MIT",
        languages=("en",),
        good_for="More accurate English transcription than Tiny, still fast.",
        files=(("model.safetensors",
                "e020c79d0a979a7ec099f718ff1cd2f19e92aead230d69654bca5975a8e1b862"),),
    ),
    ModelInfo(
        id="whisper-base",
        repo_id="openai/whisper-base",
        revision="e37978b90ca9030d5170a5c07aadb050351a65bb",
        role=Role.SPEECH,
        family="whisper",
        label="Whisper Base (multilingual)",
        size_mb=295,
        ram_mb=600,
        licence="Apache-2.0",
        languages=_WHISPER_LANGUAGES,
        good_for="Questions in about 100 languages; slower on short questions (30-second windows).",
        files=(("model.safetensors",
                "07cadb9f25677c8d50df603e66a98fbd842cce45047139baeb16e6219a1e807b"),),
    ),
    ModelInfo(
        id="whisper-small",
        repo_id="openai/whisper-small",
        revision="973afd24965f72e36ca33b3055d56a652f456b4d",
        role=Role.SPEECH,
        family="whisper",
        label="Whisper Small (multilingual, more accurate)",
        size_mb=971,
        ram_mb=1500,
        licence="Apache-2.0",
        languages=_WHISPER_LANGUAGES,
        good_for="Better accuracy in languages other than English; needs a faster computer.",
        files=(("model.safetensors",
                "1d7734884874f1a1513ed9aa760a4f8e97aaa02fd6d93a3a85d27b2ae9ca596b"),),
    ),
)

_DEFAULTS = ((Role.VISION, "smolvlm-256m"), (Role.SPEECH, "moonshine-tiny"))


def all_models() -> tuple[ModelInfo, ...]:
    return _MODELS


def model_ids() -> tuple[str, ...]:
    return tuple(m.id for m in _MODELS)


def get_model(id_: str) -> ModelInfo:
    """The catalog entry for a short id (or a hub repo id); ModelError listing the known ids."""
    for info in _MODELS:
        if id_ in (info.id, info.repo_id):
            return info
    raise ModelError(f"Unknown model {id_!r}.",
                     f"Known models: {', '.join(model_ids())}; or point --model at a folder.",
                     "Choose a model in ScreenSight > Set up the model….")


def default_model(role: Role | str) -> ModelInfo:
    for known_role, id_ in _DEFAULTS:
        if known_role == role:
            return get_model(id_)
    raise ModelError(f"Unknown model role {role!r}.", f"Use one of {choices(Role)}.")


def family_of_model_type(model_type: str) -> tuple[str, Role] | None:
    """(family, role) for a config.json model_type, or None when no loader supports it."""
    for known, family, role in SUPPORTED_MODEL_TYPES:
        if known == model_type:
            return family, role
    return None


def required_files(family: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    for known, requirements in REQUIRED_FILES:
        if known == family:
            return requirements
    return ()
