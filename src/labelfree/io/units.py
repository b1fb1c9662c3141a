"""Canonical spellings of length and time units, as files write them."""

from __future__ import annotations

__all__ = ["normalise_unit"]

_UNIT_ALIASES = {
    "micron": "µm", "microns": "µm", "um": "µm", "\\u00b5m": "µm", "μm": "µm", "µm": "µm",
    "micrometer": "µm", "micrometre": "µm", "nanometer": "nm", "nanometre": "nm",
    "millimeter": "mm", "millimetre": "mm", "sec": "s", "second": "s", "seconds": "s",
    "minute": "min", "minutes": "min", "hour": "h", "hours": "h", "ms": "ms",
}


def normalise_unit(unit: str | None, /, *, default: str = "pixel") -> str:
    """Canonical spelling of a length or time unit (``micron``/``um`` -> ``µm``)."""
    if unit is None or str(unit).strip() == "":
        return default
    text = str(unit).strip()
    return _UNIT_ALIASES.get(text.lower(), text)
