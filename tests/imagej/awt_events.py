"""Clicks on ImageJ dialogs from a test, delivered as a user's would be: on AWT's event thread."""

from __future__ import annotations


def on_edt(fn) -> None:
    """Run ``fn()`` on AWT's event thread and wait for it, after the events already queued (a
    dialog that was just shown is then done showing)."""
    import jpype
    from scyjava import jimport

    @jpype.JImplements("java.lang.Runnable")
    class _Run:
        @jpype.JOverride
        def run(self):
            fn()

    jimport("java.awt.EventQueue").invokeAndWait(_Run())


def press(gd, which: int) -> None:
    """Press button ``which`` (0 = OK, 1 = Cancel) of a shown GenericDialog."""
    from scyjava import jimport

    ActionEvent = jimport("java.awt.event.ActionEvent")
    button = gd.getButtons()[which]
    on_edt(lambda: gd.actionPerformed(ActionEvent(button, ActionEvent.ACTION_PERFORMED, str(button.getLabel()))))
