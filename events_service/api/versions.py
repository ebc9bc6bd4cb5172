"""API versions: "2.10" parsed to a comparable (major, minor) value."""
from __future__ import annotations

from typing import NamedTuple


class Version(NamedTuple):
    """A major.minor API version; compares per component, so 2.10 > 2.9."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str | float) -> "Version":
        """Parse "2.1" (or 1.5 as a number); ValueError when it is not major.minor."""
        major, dot, minor = str(text).partition(".")
        if not dot or not major.isdigit() or not minor.isdigit():
            raise ValueError(f"expected <major>.<minor>, got {text!r}")
        return cls(int(major), int(minor))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def for_meta(self) -> str | float:
        """ClearML reports versions below 2.1 as JSON numbers and the rest as strings."""
        return float(str(self)) if self < Version(2, 1) else str(self)
