"""``python -m services.report INPUT.json --out report.html``: render a report from a ReportInput file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from .model import ReportInput
from .render import render_html


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.report", description=__doc__)
    parser.add_argument("input", type=Path, help="JSON file of a ReportInput (key-frame images base64-encoded).")
    parser.add_argument("--out", type=Path, required=True, help="Where to write the HTML report.")
    parser.add_argument("--language", choices=["en", "zh"], help="Override the language chosen from the locale.")
    args = parser.parse_args(argv)
    try:
        report = ReportInput.model_validate_json(args.input.read_bytes())
    except OSError as exc:
        print(f"cannot read {args.input}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"{args.input} is not a valid report input:\n{exc}", file=sys.stderr)
        return 2
    if args.language:
        report = report.model_copy(update={"language": args.language})
    args.out.write_text(render_html(report), encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
