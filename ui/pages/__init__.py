"""Page registration: importing a page module registers its routes with NiceGUI."""


def register_pages() -> None:
    """Import every page module once."""
    from ui.pages import (  # noqa: F401
        board,
        graph,
        projects,
        review,
        session,
        sessions,
        settings,
        task,
        tasks,
        terminals,
        worktrees,
    )
