"""Page registration: importing a page module registers its routes with NiceGUI."""


def register_pages() -> None:
    """Import every page module once."""
    from ui.pages import home  # noqa: F401
