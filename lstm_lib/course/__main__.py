"""``python -m lstm_lib.course start|grade|grade-all``: the learner's package and its grader.

python -m lstm_lib.course start DIR                    # write DIR/my_lstm/, every function a stub
python -m lstm_lib.course grade DIR                    # a table of the results
python -m lstm_lib.course grade DIR --json             # the results as one JSON document
python -m lstm_lib.course grade DIR --gradescope results.json [--points CharLSTM=3,...]
python -m lstm_lib.course grade-all FOLDER --csv grades.csv   # one row per student's subfolder
"""

import argparse
import json
import sys
from pathlib import Path

from ..atomic import atomic_write
from ..errors import UsageError
from .exercises import PACKAGE
from .grader import (
    csv_text,
    format_table,
    grade,
    grade_all,
    gradescope_error,
    gradescope_results,
    parse_points,
    results_document,
)
from .loader import package_dir
from .package import write_package


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_lib.course", description="Write and grade your own LSTM package, my_lstm."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help=f"write DIR/{PACKAGE}/ with every function left to write")
    start.add_argument("dir", help=f"the folder to hold {PACKAGE} (created if needed)")
    start.add_argument(
        "--force", action="store_true", help=f"overwrite an existing {PACKAGE} (its code is lost)"
    )
    start.add_argument(
        "--solutions", action="store_true", help="write the reference solutions (for instructors)"
    )
    grade_cmd = commands.add_parser("grade", help=f"check DIR/{PACKAGE} against the reference lstm_lib")
    grade_cmd.add_argument("dir", help=f"the folder that holds {PACKAGE}")
    grade_cmd.add_argument(
        "--json", action="store_true", help="print the results as one JSON document instead of the table"
    )
    grade_cmd.add_argument(
        "--gradescope",
        metavar="PATH",
        help="also write Gradescope's results.json to PATH (its folder must exist)",
    )
    grade_cmd.add_argument(
        "--points",
        metavar="NAME=N,...",
        help="with --gradescope: the points of some functions, e.g. CharLSTM=3,step_backward=2 (others: 1)",
    )
    grade_all_cmd = commands.add_parser(
        "grade-all", help=f"grade every student's subfolder of FOLDER (each holding a {PACKAGE}) into a CSV"
    )
    grade_all_cmd.add_argument("folder", help="the folder with one subfolder per student")
    grade_all_cmd.add_argument(
        "--csv", metavar="OUT.csv", help="write the CSV to OUT.csv (its folder must exist) instead of stdout"
    )
    return parser.parse_args(argv)


def output_path(text: str, flag: str) -> Path:
    """The file ``flag`` names, checked before any grading: its folder must exist."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give the file to write, e.g. {path / 'results.json'}")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {path.parent} does not exist; create it first")
    return path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one, whole."""
    try:
        with atomic_write(path) as out:
            out.write(text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _json(document) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _grade(args) -> int:
    if args.points and not args.gradescope:
        raise UsageError("--points sets the points of --gradescope's results.json; add --gradescope PATH")
    points = parse_points(args.points) if args.points else None
    gradescope = output_path(args.gradescope, "--gradescope") if args.gradescope else None
    try:
        root = package_dir(args.dir)
    except UsageError as exc:
        if gradescope:  # the student sees why on Gradescope, rather than "the autograder failed"
            write_text(gradescope, _json(gradescope_error(str(exc))))
        raise
    results = grade(root)
    if gradescope:
        write_text(gradescope, _json(gradescope_results(results, points)))
    if args.json:
        sys.stdout.write(_json(results_document(results, root)))
    else:
        print(format_table(results))
    return 0 if all(r.passed for r in results) else 1


def _grade_all(args) -> int:
    out = output_path(args.csv, "--csv") if args.csv else None
    submissions = grade_all(args.folder)
    text = csv_text(submissions)
    if out is None:
        print(text, end="")
        return 0
    write_text(out, text)
    missing = sum(s.package is None for s in submissions)
    print(
        f"wrote {out}: {len(submissions)} submissions"
        + (f", {missing} without a {PACKAGE}" if missing else "")
    )
    return 0


def main(argv=None) -> int:
    """Exit status: 0 when done (grade: every function passes), 1 when a function fails
    (grade only: grade-all exits 0 once its CSV is written), 2 on bad input."""
    args = parse_args(argv)
    try:
        if args.command == "start":
            target = write_package(args.dir, solutions=args.solutions, force=args.force)
            what = "the reference solutions" if args.solutions else "a stub for every function"
            print(f"wrote {target} with {what}; check it with: python -m lstm_lib.course grade {args.dir}")
            return 0
        if args.command == "grade":
            return _grade(args)
        return _grade_all(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
