"""`maskset`: commands around the DVC pipeline (the pipeline itself runs with `dvc repro`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.atomic import atomic_path, json_text
from pipeline.config import parse
from pipeline.errors import MasksetError
from pipeline.fiftyone_db import InspectConfig
from pipeline.manifest import LABELS
from pipeline.sources import DEFAULT_COLUMNS
from stages.common import fiftyone_setup, guarded, load_params, project, section
from stages.paths import (
    CATALOG_FILE,
    CORRECTIONS_FILE,
    EXPORTS,
    NODE_MODULES,
    PLOTS_PAGE,
    PREDICTIONS,
    RAW,
    SOURCES_LOCK,
    fiftyone_database,
    manifest_of,
    model_dir,
)


def _sources(as_json: bool) -> int:
    from pipeline.download import source_status
    from pipeline.fetch.pins import read_lock
    from pipeline.sources import load_catalog

    try:
        enabled = load_params().get("sources") or []
        rows = source_status(load_catalog(CATALOG_FILE), enabled, RAW, read_lock(SOURCES_LOCK))
    except (MasksetError, OSError) as exc:
        raise MasksetError(f"{exc} (run maskset sources from the project folder)") from None
    if as_json:
        print(json_text(rows), end="")
        return 0
    print(f"{'':2}{'source':28}{'kind':8}{'downloaded':14}{'pinned':8}published / licence")
    for row in rows:
        mark = "* " if row["enabled"] else "  "
        print(
            f"{mark}{row['key']:28}{row['kind']:8}{row['downloaded']:14}{row['pinned']:<8}{row['published']}"
        )
        print(f"{'':60}{row['licence'][:100]}")
    print("\n* enabled in params.yaml `sources:`; details and citations in datasets/sources.yaml")
    return 0


def _corrections(dataset: str, path: Path) -> int:
    from pipeline.corrections import corrections_from_tags, write_corrections
    from pipeline.fiftyone_app import reviewed_samples

    try:
        entries, skipped = corrections_from_tags(reviewed_samples(dataset))
        write_corrections(path, entries)
    except ValueError as exc:  # FiftyOne has no such dataset
        raise MasksetError(f"{exc}; run `dvc repro` first") from None
    for note in skipped:
        print(f"skipped {note}")
    actions = {a: sum(e["action"] == a for e in entries.values()) for a in ("exclude", "relabel")}
    print(
        f"{path}: {actions['exclude']} exclusion(s), {actions['relabel']} relabel(s) from the App's tags; "
        "commit it and run `dvc repro` to apply them"
    )
    return 0


def _database(stop_it: bool) -> int:
    from pipeline.fiftyone_db import running, stop

    config = parse(InspectConfig, section("inspect"), "inspect")
    directory = fiftyone_database(config.database_dir)
    if directory is None:
        print("inspect.database_dir is null: FiftyOne's own configuration chooses the database")
        return 0
    if stop_it:
        print(f"{directory}: {'stopped' if stop(directory) else 'no database was running'}")
        return 0
    state = running(directory)
    print(f"{directory}: " + (f"mongod pid {state['pid']} at {state['uri']}" if state else "not running"))
    return 0


def _export(name: str, out: Path | None, tolerance: float) -> int:
    """Export, then run the file with onnxruntime on the test split (every split when the
    manifest has no test rows) and compare it with torch: a file that disagrees is an error."""
    from pipeline.export import compare, export_onnx
    from pipeline.families import load_model
    from pipeline.manifest import read_manifest
    from pipeline.preprocess import load_tensor_cache

    model, meta = load_model(model_dir(name))
    target = out or EXPORTS / f"{name}.onnx"
    export_onnx(model, meta, target)
    df = read_manifest(manifest_of("split"))
    rows = df[df["split"] == "test"] if (df["split"] == "test").any() else df
    images = load_tensor_cache(list(rows["path"]), meta.image_size, meta.grayscale)
    checked = compare(model, meta, target, images)
    print(
        f"export: {target} (ONNX opset 17; input float32 pixels 0-255, "
        f"{1 if meta.grayscale else 3}x{meta.image_size}x{meta.image_size}; output probabilities of "
        f"{list(meta.classes)}); onnxruntime vs torch on {checked['faces']} test faces: "
        f"same class {checked['same_class']:.3f}, largest probability difference "
        f"{checked['max_probability_difference']:.2e}"
    )
    if checked["same_class"] < 1.0 or checked["max_probability_difference"] > tolerance:
        raise MasksetError(f"the exported {target} does not reproduce the torch model (see above)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pipeline.predict import agreement, predict_files, read_boxes

    name = args.model or next(iter(project().models), None)
    directory = model_dir(str(name))
    if not (directory / "meta.json").is_file():
        raise MasksetError(f"no trained model at {directory}: run `dvc repro` (or pass --model)")
    # --json prints the results; it writes annotated copies only where --out asks for them
    out = args.out if args.out is not None or args.json else PREDICTIONS
    boxes = None if args.boxes is None else read_boxes(args.boxes, tuple(args.columns.split(",")))
    results = predict_files(
        args.images,
        directory,
        out,
        boxes,
        _truth(args.label_map),
        detector=args.detector,
        upsample=args.upsample,
    )
    failed = [r for r in results if "error" in r]
    for result in failed:
        print(f"error: {result['image']}: {result['error']}", file=sys.stderr)
    if args.json:
        print(json_text(results), end="")
        return 1 if failed else 0
    for result in results:
        if "error" not in result:
            faces = result["faces"]
            found = ", ".join(_face_text(f) for f in faces) or "no face found"
            where = f" -> {result['output']}" if result["output"] else ""
            print(f"{result['image']}: {len(faces)} face(s) ({result['detector']}): {found}{where}")
            for box in result.get("skipped", []):
                print(f"  skipped {box['where']}: {box['reason']} ({box['detail']})")
    if boxes is not None:
        told = agreement(results)
        line = f"agreement with the annotation: {told['agree']} of {told['labelled']} boxes"
        if told["labelled"]:
            line += f" ({told['agree'] / told['labelled']:.3f})"
        if told["unknown_label"]:
            line += f"; {told['unknown_label']} with a label not in {list(LABELS)}"
            line += "" if args.label_map else " (--label-map names a catalog source to read them)"
        print(line)
    return 1 if failed else 0  # like cp or ls: the others were done, but not all


def _face_text(face: dict) -> str:
    text = f"{face['label']} {face['confidence']:.2f}"
    return f"{text} (annotated {face['annotated']})" if "annotated" in face else text


def _truth(source_key: str | None) -> Callable[[str], str | None]:
    """How an annotation's label becomes ours: a catalog source's label_map, or only our
    own three labels as written."""
    from pipeline.predict import canonical
    from pipeline.sources import get_source, load_catalog

    if source_key is None:
        return canonical
    return get_source(load_catalog(CATALOG_FILE), source_key).map_label


def _plots_page() -> int:
    """Written once after `npm ci` (its postinstall runs this): the page is named in
    .dvc/config.local, so a clone that never ran npm keeps DVC's own (online) page instead
    of a broken path."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    from pipeline.plots_page import page, read_scripts

    html = page(read_scripts(NODE_MODULES))
    try:
        with Repo(".") as repo, repo.config.edit("local") as local:
            local["plots"]["html_template"] = PLOTS_PAGE.name
    except NotDvcRepoError:
        raise MasksetError("not a DVC project: run maskset plots-page from the project folder") from None
    with atomic_path(PLOTS_PAGE) as tmp:
        tmp.write_text(html, encoding="utf-8")
    print(f"{PLOTS_PAGE}: Vega inlined ({len(html) // 1024} KiB); `dvc plots show` draws offline")
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded(lambda: _run(_parser().parse_args(argv)))


def _parser() -> argparse.ArgumentParser:
    """Defaults that come from params.yaml (dataset, port) are resolved when a command runs,
    so a broken params.yaml does not stop `maskset --help` or `maskset predict`."""
    parser = argparse.ArgumentParser(prog="maskset", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    app = commands.add_parser("app", help="open the FiftyOne App on the built dataset")
    app.add_argument("--dataset", default=None, help="default: inspect.dataset_name (auto: this project's)")
    app.add_argument("--port", type=int, default=None, help="default: inspect.port")
    app.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on; 0.0.0.0 exposes the App to the network (remote use)",
    )
    app.add_argument("--view", default=None, help="a saved view, e.g. misclassified_simple_cnn")
    listing = commands.add_parser("sources", help="list the source catalog and what is downloaded")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    predict = commands.add_parser(
        "predict", help="find the faces in photos, classify each, draw labelled boxes"
    )
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument(
        "--model",
        default=None,
        help="a trained model under models/ (default: the first in params.yaml models:)",
    )
    predict.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the annotated copies (default {PREDICTIONS}/; none with --json)",
    )
    predict.add_argument(
        "--detector",
        choices=["auto", "hog", "cnn"],
        default="auto",
        help="auto: HOG, then the CNN detector where HOG finds no face (it misses most masked ones)",
    )
    predict.add_argument(
        "--upsample", type=int, default=1, help="detector upsampling: finds smaller faces, slower"
    )
    predict.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="classify these annotated boxes instead of detecting faces: a folder of PASCAL VOC "
        "files, one .xml, or a .csv table (see --columns); each photo is matched by file name",
    )
    predict.add_argument(
        "--columns",
        default=",".join(DEFAULT_COLUMNS),
        help="the CSV's columns for file name, xmin, ymin, xmax, ymax and (optional) label",
    )
    predict.add_argument(
        "--label-map",
        default=None,
        metavar="SOURCE",
        help="read the annotations' labels through this catalog source's label_map "
        "(e.g. kaggle_face_mask_detection); without it only mask / no_mask / incorrect_mask are known",
    )
    predict.add_argument("--json", action="store_true", help="print the results as JSON")
    export = commands.add_parser(
        "export", help="export a trained model (ONNX, preprocessing inside) and check it with onnxruntime"
    )
    export.add_argument("model", help="a trained model under models/")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", type=Path, default=None, help=f"default: {EXPORTS}/<model>.onnx")
    export.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest probability difference accepted vs torch"
    )
    database = commands.add_parser(
        "database", help="this project's FiftyOne database (its own mongod): where it is, or --stop it"
    )
    database.add_argument("--stop", action="store_true", help="stop the project's mongod")
    commands.add_parser(
        "plots-page", help="make `dvc plots show` draw offline: Vega from node_modules inlined in its page"
    )
    review = commands.add_parser(
        "corrections",
        help="write the review tags set in the App (bad_image, relabel:<label>) to the corrections file",
    )
    review.add_argument("--dataset", default=None, help="default: inspect.dataset_name")
    review.add_argument("--file", type=Path, default=CORRECTIONS_FILE)
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "sources":
        return _sources(args.json)
    if args.command == "predict":
        return _predict(args)
    if args.command == "database":
        return _database(args.stop)
    if args.command == "export":
        return _export(args.model, args.out, args.tolerance)
    if args.command == "plots-page":
        return _plots_page()
    config, dataset = fiftyone_setup()  # before FiftyOne is imported: this project's database
    dataset = args.dataset or dataset
    if args.command == "corrections":
        return _corrections(dataset, args.file)
    from pipeline.fiftyone_app import launch

    try:
        launch(dataset, args.port or config.port, args.address, args.view)
    except ValueError as exc:  # FiftyOne: dataset or view not found
        raise MasksetError(f"{exc}; run `dvc repro` first") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
