"""``python -m lstm_lib.course start|grade DIR``: the learner's package and its grader."""

import argparse
import sys

from ..errors import UsageError
from .exercises import PACKAGE
from .grader import format_table, grade
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
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Exit status: 0 when done (grade: every function passes), 1 when something fails, 2 on bad input."""
    args = parse_args(argv)
    try:
        if args.command == "start":
            target = write_package(args.dir, solutions=args.solutions, force=args.force)
            what = "the reference solutions" if args.solutions else "a stub for every function"
            print(f"wrote {target} with {what}; check it with: python -m lstm_lib.course grade {args.dir}")
            return 0
        results = grade(args.dir)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
