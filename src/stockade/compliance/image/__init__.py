"""Image checks (CIS Docker Benchmark section 4) over any artifact Source.

::

    from stockade.artifact import open_artifact
    from stockade.compliance.image import check_image

    with open_artifact("app.tar") as source:
        for result in check_image(source, max_age_days=90):
            print(result.check.id, result.status, result.path, result.message)
"""

from stockade.compliance.image.check import (
    DEFAULT_MAX_AGE_DAYS,
    ImageCheck,
    ImageSubject,
    NotApplicable,
    Violation,
    check_image,
    image_check,
    inspect_image,
)
from stockade.compliance.image.errors import ImageCheckError
from stockade.compliance.image.facts import FileFacts, FileKind, ImageFile, collect_file_facts
from stockade.compliance.image.registry import IMAGE_CHECKS, IMAGE_CHECKS_BY_ID

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "IMAGE_CHECKS",
    "IMAGE_CHECKS_BY_ID",
    "FileFacts",
    "FileKind",
    "ImageCheck",
    "ImageCheckError",
    "ImageFile",
    "ImageSubject",
    "NotApplicable",
    "Violation",
    "check_image",
    "collect_file_facts",
    "image_check",
    "inspect_image",
]
