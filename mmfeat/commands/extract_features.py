"""`mmfeat extract-features`: read a dataset's items and store their features in one HDF5 shard.

    mmfeat extract-features --dataset-root data/50salads --item rgb-01-1 --item rgb-02-1 \\
        --output results/50salads/features/i3d/shard-0.h5 --extractor-name i3d \\
        --extractor '{"kind": "i3d", "weights": "models/I3D_8x8_R50.pyth"}' \\
        --decode '{"backend": "decord", "on_unreadable": "fail"}'

`--extractor` and `--decode` carry config entries, as in config.yaml; what an
entry leaves out is filled in from the schema (mmfeat/config/schema.yaml).

The extractor's `kind` picks its module in the registry
(`mmfeat.features.extractors`), and its registry facts say what is read per item: a
video's frames from `ROOT/videos/{ID}.*`, streamed once through the
extractor; an item's audio track or transcript where its layout has them
(`--dataset-kind`, mmfeat.datasets.layouts): a humor sample's punchline and
context, a narrated video's seconds and captions. An item that cannot be
read fails the job (`fail`, no shard is written) or is listed in the shard's
exclusions with the reason (`skip`).
Frames the decoder skips as damaged show in the decode record and as gaps in
the stored frame indices.
"""

from __future__ import annotations

import argparse
import logging
import time

from mmfeat.commands.json_arguments import json_object
from mmfeat.errors import UserError
from mmfeat.datasets.layouts import layout_kinds

NAME = "extract-features"
HELP = "Extract features from a dataset's items into one HDF5 feature shard."

log = logging.getLogger(__name__)

ON_UNREADABLE_CONFIG_KEY = "decode.on_unreadable"  # what a user changes, named in the error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the subcommand."""
    parser.add_argument("--dataset-root", required=True, help="the dataset; videos in its videos/ folder")
    parser.add_argument("--dataset-kind", choices=layout_kinds(), default="segmentation",
                        help="the dataset's layout: which reader gives a sample's transcript or audio segments "
                        "(default: segmentation)")
    parser.add_argument(
        "--item", action="append", default=[], metavar="ID", help="a video or sample id; repeat for each (none: empty shard)"
    )
    parser.add_argument("--output", required=True, help="the HDF5 shard to write")
    parser.add_argument("--extractor-name", required=True, metavar="NAME",
                        help="the extractor's name under `extractors` in the config, stored as provenance")
    parser.add_argument("--extractor", required=True, metavar="JSON",
                        help='the extractor\'s config entry, e.g. \'{"kind": "i3d", "stride": 2}\'; the schema '
                        "fills in what it leaves out")
    parser.add_argument("--decode", metavar="JSON",
                        help='the dataset\'s `decode` entry, e.g. \'{"backend": "pyav", "on_unreadable": "skip"}\'; '
                        "the schema fills in what it leaves out (default: all of it)")


def run(args: argparse.Namespace) -> int:
    """Extract every listed item into the shard at --output."""
    # heavy imports here, so that `mmfeat --help` does not load torch
    from tqdm import tqdm

    from mmfeat.devices import resolve_device
    from mmfeat.features.extractors import complete_entry, extractor_module, kind_facts
    from mmfeat.features.inputs import ItemSource, UnreadableInputError, open_item, progress_interval
    from mmfeat.features.provenance import package_versions
    from mmfeat.features.store import ShardWriter
    from mmfeat.workflow_config import with_defaults

    # its keys are checked by the registry against the schema
    entry = complete_entry(json_object(args.extractor, "--extractor"), source="--extractor")
    decode = with_defaults("decode", json_object(args.decode, "--decode") if args.decode else {}, source="--decode")
    extractor = extractor_module(entry["kind"])
    reads = kind_facts(entry["kind"]).input  # "video", "audio" or "text" per item
    settings = extractor.Settings.from_dict(entry)
    source = ItemSource(root=args.dataset_root, kind=args.dataset_kind, backend=decode["backend"],
                        on_damaged=decode["on_damaged"])
    if not source.layout_class.MISSING_VIDEO_EXCLUDES:  # where it does, an item without a clip is listed
        # every file is found before the (slow) model is built, so a wrong id fails at once
        source.locate_videos(args.item)
    model, weights_identity = extractor.build(settings)
    if weights_identity.get("kind") == "random":
        log.warning("%s (%s) has randomly initialised weights (seed %s): its features are random projections, "
                    "not comparable with published results; set `weights` in its config entry for the released "
                    "ones", args.extractor_name, entry["kind"], weights_identity.get("seed"))
    provenance = {
        "weights": weights_identity,
        "device": str(resolve_device(settings.device)),
        "compute_dtype": _compute_dtype(model),  # float16 for I3D on a GPU
        "versions": package_versions(decoder_backend=decode["backend"] if reads == "video" else None),
    }
    with ShardWriter(args.output, args.extractor_name, settings.to_dict(), dtype=entry["dtype"]) as shard:
        for item_id in tqdm(args.item, desc="items", unit="item", mininterval=progress_interval()):
            started = time.perf_counter()
            try:
                with open_item(reads, source, item_id) as opened:
                    attrs = {**provenance, **opened.provenance}
                    if hasattr(extractor, "extract_chunks"):  # rows appended as made: memory does not grow
                        shape = shard.add_extracted_chunks(item_id, extractor.extract_chunks(opened.item, model,
                                                                                             settings), attrs)
                    else:
                        extracted = _extract_item(extractor, reads, opened.item, model, settings, item_id)
                        shard.add_extracted(item_id, extracted, attrs)
                        shape = extracted.features.shape
            except UnreadableInputError as error:
                if decode["on_unreadable"] == "fail":
                    raise UserError(f"{error} (set {ON_UNREADABLE_CONFIG_KEY}: skip in the dataset's config, "
                                    """or --decode '{"on_unreadable": "skip"}', to go on without it)""") from error
                log.warning("skipping %s: %s", item_id, error)
                shard.exclude_video(item_id, str(error))
                continue
            if opened.decode_record is not None:
                shard.add_decode_record(item_id, opened.decode_record)
            log.info("%s: %d rows of %d features%s, %.1f s", item_id, *shape,
                     _decode_summary(opened.decode_record), time.perf_counter() - started)
    return 0


def _extract_item(extractor, reads: str, item, model, settings, item_id: str):
    """The extractor's rows for one item; a segment it cannot describe makes the item unreadable."""
    from mmfeat.features.inputs import UnreadableInputError

    try:
        return extractor.extract(item, model, settings)
    except ValueError as error:
        if reads == "video":
            raise
        # audio and text extractors: an empty text, a segment outside the clip
        raise UnreadableInputError(f"sample {item_id}: {error}") from error


def _decode_summary(record: dict | None) -> str:
    if record is None:
        return ""
    return (f" from {record['frames_decoded']} decoded frames "
            f"({len(record['skipped_indices'])} skipped as damaged)")


def _compute_dtype(model) -> str | None:
    """The dtype of the model's weights (float16 on a GPU where the extractor chose half precision)."""
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return None if parameter is None else str(parameter.dtype).removeprefix("torch.")
