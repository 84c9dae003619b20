"""Reviewing an agent's worktree: the changed-file list and the first page of diffs, server side, on a big repo.

A repository of 10,000 small text files in nested folders (one commit); a worktree made with `git worktree add`
where 500 files changed: edits (half committed on the agent's branch, half left uncommitted), added untracked
files, deletions, and 5 rewrites of ~5,000 lines each placed in the first page of diffs (the worst first page).
Each round calls the service functions the API uses: list_changes (first page, 500 files) and diff_page (first
page of 20 diffs); also `git worktree add` on a 1,000-file repository.

Target: file list + first page of diffs <= 500 ms. Run: .venv/bin/python bench/worktree_review.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import percentiles

IDENTITY = ("-c", "user.name=Bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false")


def run(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, files: int) -> list[str]:
    """A repository on `main` with `files` files of ~12 lines in 3 levels of folders, one commit."""
    root.mkdir(parents=True)
    run(root, "init", "-q", "-b", "main")
    names = [f"pkg{i % 20:02d}/mod{i % 13:02d}/part{i % 5}/file{i:05d}.txt" for i in range(files)]
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name} line {n}\n" for n in range(12)))
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", "base")
    return names


def change_files(worktree: Path, names: list[str], count: int) -> dict[str, int]:
    """Change `count` files the way an agent would; returns how many of each kind."""
    rng = random.Random(7)
    chosen = sorted(rng.sample(names, count - 30))
    large = set(chosen[0:20:4])  # 5 rewrites among the first 20 paths: the first page holds them
    deleted = set(rng.sample([n for n in chosen if n not in large], 25))
    edited = [n for n in chosen if n not in large and n not in deleted]
    for name in large:
        (worktree / name).write_text("".join(f"rewritten line {n} of {name}\n" for n in range(5000)))
    for name in deleted:
        (worktree / name).unlink()
    for i, name in enumerate(edited):
        path = worktree / name
        lines = path.read_text().splitlines(keepends=True)
        lines[3] = f"edited {i}\n"
        lines.insert(8, "an added line\n")
        path.write_text("".join(lines))
        if i == len(edited) // 2:  # the agent committed the first half of its edits
            run(worktree, "add", "-A")
            run(worktree, "commit", "-q", "-m", "agent work")
    for i in range(30):
        path = worktree / f"pkg{i % 20:02d}/new/added{i:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"new line {n}\n" for n in range(20)))
    return {"edited": len(edited), "added": 30, "deleted": len(deleted), "large": len(large)}


async def measure_review(worktree: Path, rounds: int) -> dict[str, list[float]]:
    """Milliseconds of list_changes (first page) and diff_page (first 20) per round, after one warm-up."""
    from app.services.worktrees.changes import diff_page, list_changes, merge_base

    base = await merge_base(worktree, "main", fallback="main")
    samples: dict[str, list[float]] = {"list_changes": [], "diff_page": [], "list + first page": []}
    for round_ in range(rounds + 1):
        t0 = time.perf_counter()
        changes = await list_changes(worktree, base)
        t1 = time.perf_counter()
        diffs = await diff_page(worktree, base, limit=20)
        t2 = time.perf_counter()
        assert changes.total == 500 and len(changes.files) == 500, changes.total
        assert len(diffs) == 20 and sum(d.lines > 5000 for d in diffs) == 5
        if round_:  # round 0 warms the page cache and git's object lookups
            samples["list_changes"].append((t1 - t0) * 1000)
            samples["diff_page"].append((t2 - t1) * 1000)
            samples["list + first page"].append((t2 - t0) * 1000)
    return samples


async def measure_worktree_add(repo: Path, scratch: Path, rounds: int) -> list[float]:
    """Milliseconds of `git worktree add -b` on `repo`, each worktree removed again untimed."""
    from app.services.worktrees.git import git

    samples = []
    for n in range(rounds):
        target = scratch / f"wt-add-{n}"
        t0 = time.perf_counter()
        await git(repo, "worktree", "add", "-q", "-b", f"bench-{n}", str(target), "main")
        samples.append((time.perf_counter() - t0) * 1000)
        await git(repo, "worktree", "remove", "--force", str(target))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="maestro-bench-"))
    try:
        started = time.perf_counter()
        names = make_repo(scratch / "big", args.files)
        worktree = scratch / "big-agent"
        run(scratch / "big", "worktree", "add", "-q", "-b", "agent", str(worktree), "main")
        kinds = change_files(worktree, names, 500)
        make_repo(scratch / "small", 1_000)
        print(f"set up {args.files} files, changed {kinds} in {time.perf_counter() - started:.1f} s")

        samples = asyncio.run(measure_review(worktree, args.rounds))
        samples["git worktree add (1,000 files)"] = asyncio.run(
            measure_worktree_add(scratch / "small", scratch, args.rounds)
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    results = {name: percentiles(values) for name, values in samples.items()}
    print(f"{'operation':34s} {'p50 ms':>8s} {'max ms':>8s}")
    for name, stats in results.items():
        print(f"{name:34s} {stats['p50']:8.1f} {stats['max']:8.1f}")
    summary = {name: {"p50": round(s["p50"], 1), "max": round(s["max"], 1)} for name, s in results.items()}
    print(json.dumps({"files": args.files, "changed": 500, "rounds": args.rounds, **summary}))


if __name__ == "__main__":
    main()
