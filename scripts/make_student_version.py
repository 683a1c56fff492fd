"""Write the student version of the book: the chapters without their solutions.

    python scripts/make_student_version.py                 # into student/ (gitignored)
    python scripts/make_student_version.py --out /tmp/hw   # somewhere else
    python scripts/make_student_version.py book/04_gates.ipynb

In every chapter notebook (book/*.ipynb):

- every cell tagged ``solution`` is removed (the ``solution-start``/``solution-end``
  markers, the reference code between them, and written model answers);
- the cells tagged ``exercise`` (the stubs) and ``check`` keep their code but lose their
  outputs and execution counts, so a check cell fails until the learner has done the
  exercise above it (with ``lstm_lib.course.ExerciseError`` or ``NotImplementedError``);
- every other cell is kept with its outputs, so the text reads as in the book.

The rest of book/ (images, assets; not the instructor page) is copied alongside, so
relative links keep working, and the learner's package ``my_lstm/`` (every function a
stub, as ``python -m lstm_lib.course start`` writes it) is written next to the notebooks,
to be checked with ``python -m lstm_lib.course grade student/``. The output folder is
replaced.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

from lstm_lib.course import write_package

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
REMOVED_TAGS = {"solution"}
CLEARED_TAGS = {"exercise", "check"}
NOT_FOR_STUDENTS = {"instructor.md"}


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def student_notebook(nb):
    """Return a copy of ``nb`` without solutions and with exercise/check outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    nb.cells = [cell for cell in nb.cells if not tags(cell) & REMOVED_TAGS]
    for cell in nb.cells:
        if cell.cell_type == "code" and tags(cell) & CLEARED_TAGS:
            cell.outputs = []
            cell.execution_count = None
    return nb


def write_student_version(out: Path, notebooks: list[Path] | None = None) -> list[Path]:
    notebooks = sorted(BOOK.glob("*.ipynb")) if notebooks is None else notebooks
    out = out.resolve()
    if out in (ROOT, BOOK) or out in ROOT.parents or BOOK in out.parents or out == Path.home():
        raise SystemExit(f"refusing to replace {out}: choose a separate output folder")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for item in BOOK.iterdir():
        if item.suffix == ".ipynb" or item.name in NOT_FOR_STUDENTS or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, out / item.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(item, out / item.name)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(student_notebook(nb), target)
        written.append(target)
    write_package(out)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in book/")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "student", help="output folder (default: student/)"
    )
    args = parser.parse_args()
    written = write_student_version(args.out, [p.resolve() for p in args.notebooks] or None)
    for path in written:
        print(path)
    print(f"{len(written)} student notebooks in {args.out}")
    print(
        f"the package to fill in: {args.out / 'my_lstm'} (grade: python -m lstm_lib.course grade {args.out})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
