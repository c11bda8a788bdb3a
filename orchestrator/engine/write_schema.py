"""Write or check the published flow schema (kept apart from ``schema`` so ``-m`` runs clean).

    python -m orchestrator.engine.write_schema flows/flow.schema.json          # regenerate
    python -m orchestrator.engine.write_schema --check flows/flow.schema.json  # CI: is it current?
"""
import argparse
import sys

from .schema import render_schema


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.engine.write_schema",
                                     description="Write (or check) the flow JSON Schema.")
    parser.add_argument("path", nargs="?", help="file to write; standard output when omitted")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated schema")
    args = parser.parse_args(argv)
    text = render_schema()
    if args.check:
        if not args.path:
            parser.error("--check needs a path")
        with open(args.path, encoding="utf-8") as handle:
            current = handle.read()
        if current != text:
            print(f"{args.path} is stale; regenerate it with: python -m orchestrator.engine.write_schema {args.path}")
            return 1
        return 0
    if args.path:
        with open(args.path, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
