"""Edit in place: text shown as text (or sanitised markdown); click to edit, Enter or blur saves, Esc cancels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from ui.context import tid

Save = Callable[[str], Awaitable[str | None]]  # returns a problem to show under the editor, or None when saved


class InlineEdit:
    """One editable value. `multiline` edits markdown in a textarea (Enter adds a line; Ctrl/Cmd+Enter saves).

    The display is a label (a one-line value, always text) or `ui.markdown`, which NiceGUI sanitises with
    DOMPurify in the browser, so HTML in untrusted text never runs. While editing, `show()` from a live refresh
    leaves the editor alone: someone else's change must not wipe what is being typed.
    """

    def __init__(
        self, value: str, on_save: Save, *, name: str, multiline: bool = False, placeholder: str = "", classes: str = ""
    ) -> None:
        self.value = value
        self.on_save = on_save
        self.multiline = multiline
        self.placeholder = placeholder
        self.editing = False
        with ui.column().classes("w-full gap-1") as self.box:
            if multiline:
                self.display: ui.element = tid(ui.markdown(value).classes(f"w-full cursor-text {classes}"), name)
                self.empty = tid(ui.label(placeholder).classes("text-grey-6 italic cursor-text"), f"{name}-placeholder")
                self.empty.on("click", self.start)
                self.editor: ui.input | ui.textarea = ui.textarea(value=value).props("autogrow outlined")
                self.editor.on("keydown.ctrl.enter", self.save)
                self.editor.on("keydown.meta.enter", self.save)
            else:
                self.display = tid(ui.label(value).classes(f"cursor-text break-words {classes}"), name)
                self.empty = ui.label(placeholder).classes("hidden")
                self.editor = ui.input(value=value).props("dense outlined")
                self.editor.on("keydown.enter", self.save)
            self.display.on("click", self.start)
            tid(self.editor.classes("w-full"), f"{name}-input")
            self.editor.on("keydown.esc", self.cancel)
            self.editor.on("blur", self.save)
            self.problem = tid(ui.label("").classes("text-negative text-sm"), f"{name}-error")
        self._show_display()

    def _show_display(self) -> None:
        blank = not self.value.strip()
        self.display.set_visibility(not (self.multiline and blank))
        self.empty.set_visibility(self.multiline and blank)
        self.editor.set_visibility(False)

    def start(self) -> None:
        """Switch to the editor with the current value."""
        if self.editing:
            return
        self.editing = True
        self.problem.text = ""
        self.editor.value = self.value
        self.display.set_visibility(False)
        self.empty.set_visibility(False)
        self.editor.set_visibility(True)
        self.editor.run_method("focus")

    def cancel(self) -> None:
        """Leave the editor without saving."""
        if not self.editing:
            return
        self.editing = False
        self.problem.text = ""
        self._show_display()

    async def save(self) -> None:
        """Save the edited value (unchanged: nothing is written); a refusal keeps the editor open with the reason."""
        if not self.editing:
            return  # Enter then blur: the first one saved
        text = self.editor.value or ""
        if text == self.value:
            self.cancel()
            return
        self.editing = False  # a blur arriving while the write runs must not save twice
        problem = await self.on_save(text)
        if problem is not None:
            self.editing = True
            self.problem.text = problem
            return
        self.problem.text = ""
        self.show(text)

    def show(self, value: str) -> None:
        """Show a (possibly newer) value, unless the user is editing."""
        if self.editing:
            return
        self.value = value
        if isinstance(self.display, ui.markdown):
            self.display.set_content(value)
        elif isinstance(self.display, ui.label):
            self.display.set_text(value)
        self._show_display()
