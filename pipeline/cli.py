"""`maskset`: commands around the DVC pipeline (the pipeline itself runs with `dvc repro`)."""

from __future__ import annotations

import argparse
import sys

import yaml

from pipeline.errors import MasksetError


def _inspect_params() -> dict:
    try:
        with open("params.yaml") as f:
            return (yaml.safe_load(f) or {}).get("inspect", {})
    except OSError:
        return {}


def main(argv: list[str] | None = None) -> int:
    defaults = _inspect_params()
    parser = argparse.ArgumentParser(prog="maskset", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    app = commands.add_parser("app", help="open the FiftyOne App on the built dataset")
    app.add_argument("--dataset", default=defaults.get("dataset_name", "maskset"))
    app.add_argument("--port", type=int, default=defaults.get("port", 5151))
    app.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on; 0.0.0.0 exposes the App to the network (remote use)",
    )
    app.add_argument("--view", default=None, help="a saved view, e.g. misclassified_simple_cnn")
    args = parser.parse_args(argv)
    try:
        from pipeline.fiftyone_app import launch

        launch(args.dataset, args.port, args.address, args.view)
    except MasksetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # FiftyOne: dataset or view not found
        print(f"error: {exc}; run `dvc repro` first", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
