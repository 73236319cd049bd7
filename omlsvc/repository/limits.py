"""How much an uploaded model package may make us read, decompress, write or run.

:class:`ArchiveLimits` is built from the settings by the repository service and handed to every
step that opens a package (validation, the scoring cache's extraction); the defaults here are the
settings' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_MAX_ARCHIVE_BYTES = 2 * GIB
DEFAULT_MAX_UNCOMPRESSED_BYTES = 2 * GIB
DEFAULT_MAX_RATIO = 200.0
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_METADATA_BYTES = 1 * MIB
DEFAULT_MAX_LABEL_BYTES = 4 * MIB
#: Lines of label.txt: ImageNet-21k has 21,843 classes; two million made one score answer 94 MiB.
DEFAULT_MAX_LABELS = 100_000
#: The largest image a model may ask its input resized to (height x width), from metadata or graph.
DEFAULT_MAX_IMAGE_TARGET_PIXELS = 4096 * 4096
#: Seconds the trial run of a model on a dummy batch may take during validation.
DEFAULT_TRIAL_RUN_S = 120.0

#: Entries smaller than this are never called a bomb for their compression ratio alone: small files
#: (a label list, zero-filled weights) legitimately compress far better than any sane ratio limit.
RATIO_FLOOR_BYTES = 1 * MIB


@dataclass(frozen=True)
class ArchiveLimits:
    """Upper bounds on what an uploaded package may make us read, decompress, write or run.

    ``max_ratio`` is uncompressed / compressed size per entry (only for entries of at least
    ``RATIO_FLOOR_BYTES``); ``max_uncompressed_bytes`` bounds the declared total and, separately,
    what is actually decompressed through one open package. ``max_labels`` bounds label.txt's lines,
    ``max_image_target_pixels`` an image model's input size, ``trial_run_s`` the validation's run of
    the model on a dummy batch.
    """

    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_ratio: float = DEFAULT_MAX_RATIO
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    max_label_bytes: int = DEFAULT_MAX_LABEL_BYTES
    max_labels: int = DEFAULT_MAX_LABELS
    max_image_target_pixels: int = DEFAULT_MAX_IMAGE_TARGET_PIXELS
    trial_run_s: float = DEFAULT_TRIAL_RUN_S

    def __post_init__(self) -> None:
        for limit in fields(self):
            if getattr(self, limit.name) <= 0:
                raise ValueError(f"ArchiveLimits.{limit.name} must be positive")
