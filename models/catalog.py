"""The models ScreenSight knows, as immutable data: hub id, pinned revision, sizes, licence, files.

Revisions and weight-file sha256 values are those published on the Hugging Face hub for the
pinned commit (the git-LFS object id of each weight file is its sha256).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from base.errors import ModelError
from base.vocabulary import Role, Tier, choices

# config.json "model_type" -> (family, role) of the architectures the loaders can run.
SUPPORTED_MODEL_TYPES: tuple[tuple[str, str, Role], ...] = (
    ("idefics3", "idefics3", Role.VISION),
    ("gemma4", "gemma4", Role.VISION),
    ("moonshine", "moonshine", Role.SPEECH),
    ("whisper", "whisper", Role.SPEECH),
)

# Files each family needs besides config.json and the weights. Each requirement is a tuple of
# alternatives; an alternative is a tuple of files that must all be present.
_TOKENIZER = (("tokenizer.json",), ("vocab.json", "merges.txt"), ("tokenizer.model",))
_PREPROCESSOR = (("preprocessor_config.json",),)
REQUIRED_FILES: tuple[tuple[str, tuple[tuple[tuple[str, ...], ...], ...]], ...] = (
    ("idefics3", (_TOKENIZER, _PREPROCESSOR)),
    ("gemma4", (_TOKENIZER, (("processor_config.json",),))),
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


# Gemma 4 was trained on over 140 languages; these are the widely spoken ones among them that
# the answer-language setting offers names for.
_GEMMA4_LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da", "nb", "fi", "cs", "sk", "sl", "hr",
    "sr", "bg", "ro", "hu", "el", "tr", "ru", "uk", "be", "lt", "lv", "et", "ar", "he", "fa", "hi",
    "bn", "ur", "ta", "te", "mr", "gu", "kn", "ml", "pa", "th", "vi", "id", "ms", "tl", "sw", "zh",
    "ja", "ko",
)


TIER_LABELS = MappingProxyType({
    Tier.FAST: "Fast (any laptop)",
    Tier.BALANCED: "Balanced",
    Tier.QUALITY: "Best quality, many languages (8 GB+ RAM, a GPU helps)",
})


# Where the catalog's first_word_s figures were measured (README, "The quality tier").
MEASURED_ON = "a 2-core CPU"


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
    tier: Tier | None = None          # vision models: the setup choice this model is
    tier_default: bool = False        # the tier's first choice (others are options)
    # The benchmark's first spoken word for a 900x600 active window (random weights at the real
    # size, detail quick), in seconds, measured on MEASURED_ON; None: not measured yet.
    first_word_s: float | None = None
    languages_label: str = ""         # the languages in words where the list is not all of them

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
        tier=Tier.FAST,
        tier_default=True,
        first_word_s=1.07,
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
        tier=Tier.BALANCED,
        tier_default=True,
        first_word_s=1.24,
    ),
    # Gemma 4 (bfloat16 weights, loaded as stored: no float32 copy; on the CPU the language
    # model gets int8 weights). ram_mb: what loading and answering need with the per-layer
    # embedding table (46% of the weights, read a few rows per token) left in the mapped file.
    # The benchmark measured a peak RSS of 5.3 GB (screenshot) and 5.9 GB (audio in) for E2B
    # in bf16 at the quick detail, 3.1 / 3.7 GB with int8 weights; 8 GB leaves room for high
    # detail and for loading onto a GPU.
    # E2B: revision and weight sha256 as published in a public lock of the hub snapshot
    # (model.safetensors, 10,246,621,918 bytes). E4B: the revision is pinned; no public record
    # of its weight files' sha256 was found, so downloads are checked against the sha256 the
    # hub lists for the pinned (immutable) revision instead of one of ours.
    ModelInfo(
        id="gemma4-e2b",
        repo_id="google/gemma-4-E2B-it",
        revision="905e84b50c4d2a365ebde34e685027578e6728db",
        role=Role.VISION,
        family="gemma4",
        label="Gemma 4 E2B (best quality, many languages)",
        size_mb=10247,
        ram_mb=8000,
        licence="Apache-2.0",
        languages=_GEMMA4_LANGUAGES,
        good_for="Better descriptions in many languages; hears spoken questions itself and answers "
                 "in the language spoken. Needs 8 GB of RAM; much faster with a GPU.",
        files=(("model.safetensors",
                "2db5482b20d746879bb3ef79b5203e9075a2e2b98f54ec7c2f281c1477ddc550"),),
        tier=Tier.QUALITY,
        tier_default=True,
        first_word_s=3.50,
        languages_label="over 140 languages",
    ),
    ModelInfo(
        id="gemma4-e4b",
        repo_id="google/gemma-4-E4B-it",
        revision="ee0ef6023621cff504d758262d4e04895a5af4a2",
        role=Role.VISION,
        family="gemma4",
        label="Gemma 4 E4B (more accurate, needs a GPU or a fast computer)",
        size_mb=15992,
        ram_mb=12000,
        licence="Apache-2.0",
        languages=_GEMMA4_LANGUAGES,
        good_for="The most accurate answers in many languages, spoken questions included; about "
                 "twice the work of E2B per word. Needs 12 GB of RAM; a GPU is recommended.",
        tier=Tier.QUALITY,
        first_word_s=7.52,
        languages_label="over 140 languages",
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
        languages_label="about 100 languages",
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
        languages_label="about 100 languages",
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


def tier_models(tier: Tier) -> tuple[ModelInfo, ...]:
    """The models of a tier, its first choice first."""
    return tuple(sorted((m for m in _MODELS if m.tier == tier), key=lambda m: not m.tier_default))


def recommended_tier(total_ram_mb: int, has_gpu: bool) -> Tier:
    """The tier to offer first on a machine: the quality tier needs 8 GB of RAM and a GPU (on a
    2-core CPU alone its first word takes about 4 s against under 1 s for the fast tier: offered,
    not recommended), balanced 8 GB, fast runs anywhere."""
    if total_ram_mb >= 8000 and has_gpu:
        return Tier.QUALITY
    if total_ram_mb >= 8000:
        return Tier.BALANCED
    return Tier.FAST


def languages_text(info: ModelInfo) -> str:
    """The model's languages in words: "English", "over 140 languages"."""
    if info.languages_label:
        return info.languages_label
    if info.languages == ("en",):
        return "English"
    return f"{len(info.languages)} languages"


def first_word_text(info: ModelInfo) -> str:
    """The measured time to a first answer, in words, with where it was measured."""
    if info.first_word_s is None:
        return "first spoken word: not measured yet"
    return f"first spoken word for a window after {info.first_word_s:.1f} s (measured on {MEASURED_ON})"


def tier_choice_label(info: ModelInfo) -> str:
    """What a setup list shows for a vision model: "Fast (any laptop): SmolVLM 256M (fast, default)"."""
    if info.tier is None:
        return info.label
    return f"{TIER_LABELS[info.tier]}: {info.label}"


def model_facts(info: ModelInfo) -> str:
    """Size, licence, languages, memory and the measured first answer, as one sentence."""
    facts = (f"{info.size_mb} MB download, licence {info.licence}, {languages_text(info)}, needs "
             f"about {info.ram_mb} MB of memory")
    if info.role == Role.VISION:
        facts += f", {first_word_text(info)}"
    return facts + "."


def tier_ordered(models: tuple[ModelInfo, ...] | list[ModelInfo]) -> list[ModelInfo]:
    """Vision models in tier order (fast, balanced, quality; each tier's first choice first),
    the others after them in catalog order."""
    order = {tier: i for i, tier in enumerate(Tier)}
    return sorted(models, key=lambda m: (order.get(m.tier, len(order)), not m.tier_default))


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
