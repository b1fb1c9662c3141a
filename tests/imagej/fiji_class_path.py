"""The JVM as Fiji gives it to LabelFree: without LabelFree's compiled Java helper on the class path."""

from __future__ import annotations


def hide_java_helper(monkeypatch) -> None:
    """From now on (for this test), ``scyjava.jimport`` finds no ``labelfree.LabelFreeRois``, as inside Fiji."""
    import scyjava

    real_jimport = scyjava.jimport

    def without_helper(name):
        if name == "labelfree.LabelFreeRois":
            raise TypeError("class not found")
        return real_jimport(name)

    monkeypatch.setattr(scyjava, "jimport", without_helper)
