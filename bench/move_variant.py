"""Move stored scrcl entries from one variant to another, for when a default changes.

A variant names the settings changed from the defaults. When a studied setting becomes a
default (say ``--embedding h`` on scRNA-seq), the entries made with the old default are
from then on a variant (``embedding-z``) and those stored as the studied variant
(``embedding-h``) are the defaults'. Their input hashes do not name the variant, so moved
entries stay up to date: the runner recomputes nothing that the change did not alter.

    python bench/move_variant.py --datasets Baron_mouse1 Baron_mouse2 --from "" --to embedding-z
    python bench/move_variant.py --datasets Baron_mouse1 Baron_mouse2 --from embedding-h --to ""

Moved: the scrcl methods of the ``sc`` and ``st`` suites (never the baselines, which have
no variant) and every entry of the suites made from them (consensus, selection, early).
A move that would overwrite a stored entry stops before anything is changed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(BENCH), str(BENCH.parent)) if p not in sys.path]  # + scrcl

from _results import RESULTS_DIR, Key, read_entry, write_entry  # noqa: E402

#: the suites whose entries come from scrcl runs, and which of their methods move (None: all)
MOVED: dict[str, Optional[tuple[str, ...]]] = {
    "sc": ("scrcl", "scrcl-gmm", "scrcl-leiden", "scrcl-autok", "scrcl-ward"),
    "st": ("scrcl", "scrcl-gmm", "scrcl-leiden", "scrcl-autok", "scrcl-ward"),
    "consensus": None, "selection": None, "early": None,
}


def _split(folder: str) -> tuple[str, str]:
    """'<method>[__<variant>]' -> (method, variant)."""
    method, _, variant = folder.partition("__")
    return method, variant


def planned_moves(root: Path, datasets: list[str], source: str,
                  target: str) -> list[tuple[Path, Key]]:
    """(stored file, the key it moves to) for every entry of variant ``source`` of the
    data sets; raises ValueError when a target is taken (nothing is moved then)."""
    moves = []
    for suite, methods in MOVED.items():
        for dataset in datasets:
            for folder in sorted(p for p in (root / suite / dataset).glob("*") if p.is_dir()):
                method, variant = _split(folder.name)
                if variant != source or (methods is not None and method not in methods):
                    continue
                for path in sorted(folder.glob("*/seed*.json")):
                    seed = int(path.stem[len("seed"):])
                    moves.append((path, Key(suite, dataset, method, path.parent.name, seed,
                                            target)))
    taken = [str(key.path(root)) for _, key in moves if key.path(root).exists()]
    if taken:
        raise ValueError(f"{len(taken)} target entries are stored already, e.g. {taken[0]}: "
                         "move those away first")
    return moves


def move(root: Path, datasets: list[str], source: str, target: str,
         dry_run: bool = False) -> int:
    """Move the entries (written atomically at the target, then removed at the source,
    their ``variant`` field rewritten); returns how many."""
    moves = planned_moves(root, datasets, source, target)
    for path, key in moves:
        if dry_run:
            print(f"{path.relative_to(root)} -> {key.path(root).relative_to(root)}")
            continue
        entry = read_entry(path)
        if entry is None:
            raise ValueError(f"{path} cannot be read as JSON")
        write_entry(key, root, {**entry, "variant": target})
        path.unlink()
        for empty in (path.parent, path.parent.parent):
            if not any(empty.iterdir()):
                empty.rmdir()
    return len(moves)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--from", dest="source", required=True,
                   help="the variant the entries are stored as ('' for the defaults)")
    p.add_argument("--to", dest="target", required=True,
                   help="the variant they become ('' for the defaults)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR)
    p.add_argument("--dry-run", action="store_true", help="list the moves; change nothing")
    args = p.parse_args(argv)
    if args.source == args.target:
        p.error("--from and --to are the same variant")
    try:
        n = move(args.results, args.datasets, args.source, args.target, args.dry_run)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{n} entries {'to move' if args.dry_run else 'moved'}: "
          f"{args.source or 'defaults'} -> {args.target or 'defaults'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
