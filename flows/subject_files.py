"""Request files: the subject ids an erasure request or a legal hold names."""

from __future__ import annotations

from pathlib import Path

from configs.errors import PolicyError
from transforms.erasure import parse_subject_ids


def read_subjects_file(path: Path) -> list[str]:
    """Subject ids, one a line (see :func:`transforms.erasure.parse_subject_ids`). Raises PolicyError on a file
    that cannot be read or holds a malformed id."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{path}: cannot read the subjects file ({type(e).__name__})") from e
    return parse_subject_ids(text, str(path))
