"""`mmfeat extract-features`: decode videos and store their features in one HDF5 shard.

    mmfeat extract-features --videos-dir data/50salads/videos --video rgb-01-1 --video rgb-02-1 \\
        --output results/50salads/features/i3d/shard-0.h5 --extractor i3d \\
        --settings '{"kind": "i3d", "weights": "models/I3D_8x8_R50.pyth"}' \\
        --backend decord --on-unreadable fail --on-damaged skip --dtype float16

Each video is `VIDEOS_DIR/{ID}.*`, opened once and streamed through the
extractor. A video that cannot be decoded fails the job (`fail`, no shard is
written) or is listed in the shard's exclusions with the reason (`skip`).
Frames the decoder skips as damaged show in the decode record and as gaps in
the stored frame indices.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from tqdm import tqdm

from mmfeat.errors import UserError
from mmfeat.features.video_files import find_video_file
from mmfeat.video.decode import BACKENDS, ON_DAMAGED

NAME = "extract-features"
HELP = "Extract features from videos into one HDF5 feature shard."

log = logging.getLogger(__name__)

# Keys of an extractor's config entry that are not the extractor's own
# settings: the workflow passes the whole entry, and dtype reaches the store
# through --dtype instead.
STORE_KEYS = ("dtype",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the subcommand."""
    parser.add_argument("--videos-dir", required=True, metavar="DIR", help="folder holding {ID}.<ext> video files")
    parser.add_argument(
        "--video", action="append", default=[], metavar="ID", help="a video id; repeat for each (none: empty shard)"
    )
    parser.add_argument("--output", required=True, metavar="SHARD.h5", help="the shard to write")
    parser.add_argument("--extractor", required=True, metavar="NAME", help="the extractor's name, stored as provenance")
    parser.add_argument(
        "--settings",
        required=True,
        metavar="JSON",
        help='the extractor\'s settings as a JSON object, e.g. \'{"kind": "i3d", "stride": 2}\'',
    )
    parser.add_argument("--backend", choices=BACKENDS, default="decord", help="video decoder (default: decord)")
    parser.add_argument(
        "--on-unreadable",
        choices=("fail", "skip"),
        default="fail",
        help="a video that cannot be decoded fails the job, or is listed as excluded and skipped (default: fail)",
    )
    parser.add_argument(
        "--on-damaged",
        choices=ON_DAMAGED,
        default="skip",
        help="pyav backend: drop only a damaged frame and flag the frames decoded from it (skip, default), "
        "or drop those too up to the next keyframe (skip_until_keyframe)",
    )
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="stored feature type")


def run(args: argparse.Namespace) -> int:
    """Extract every listed video into the shard at --output."""
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.devices import resolve_device
    from mmfeat.features.i3d import I3DSettings, build_i3d_trunk, extract_i3d_features
    from mmfeat.features.provenance import package_versions
    from mmfeat.features.store import ShardWriter
    from mmfeat.video.decode import UnreadableVideoError, open_video

    settings = I3DSettings.from_dict(_extractor_settings(args.settings, args.dtype))
    # every file is found before the (slow) model is built, so a wrong id fails at once
    video_files = {video_id: find_video_file(args.videos_dir, video_id) for video_id in args.video}
    trunk, weights_identity = build_i3d_trunk(settings)
    provenance = {
        "source": "video",
        "weights": weights_identity,
        "device": str(resolve_device(settings.device)),
        "versions": package_versions(decoder_backend=args.backend),
    }

    with ShardWriter(args.output, args.extractor, settings.to_dict(), dtype=args.dtype) as shard:
        for video_id, video_file in tqdm(video_files.items(), desc="videos", unit="video"):
            started = time.perf_counter()
            try:
                with open_video(video_file, backend=args.backend, on_damaged=args.on_damaged) as frames:
                    frames_in_progress = tqdm(
                        frames, desc=video_id, unit="frame", total=frames.record.frames_expected, leave=False
                    )
                    features, frame_indices = extract_i3d_features(frames_in_progress, trunk, settings)
                    record = frames.record.to_dict()
            except UnreadableVideoError as error:
                if args.on_unreadable == "fail":
                    raise UserError(f"{error} (pass --on-unreadable skip to go on without it)") from error
                log.warning("skipping video %s: %s", video_id, error)
                shard.exclude_video(video_id, str(error))
                continue
            shard.add_video(
                video_id, features, frame_indices, {**provenance, "fps": record["fps"], "video_file": str(video_file)}
            )
            shard.add_decode_record(video_id, record)
            log.info(
                "%s: %d frames decoded, %d skipped as damaged, %d features, %.1f s",
                video_id,
                record["frames_decoded"],
                len(record["skipped_indices"]),
                len(features),
                time.perf_counter() - started,
            )
    return 0


def _extractor_settings(settings_json: str, dtype: str) -> dict:
    """The extractor's settings from --settings, without the keys that belong to the store."""
    try:
        settings = json.loads(settings_json)
    except json.JSONDecodeError as error:
        raise UserError(f"--settings is not valid JSON ({error}): {settings_json!r}") from error
    if not isinstance(settings, dict):
        raise UserError(f"--settings must be a JSON object, got {settings_json!r}")
    kind = settings.get("kind")
    if kind != "i3d":
        raise UserError(f"--settings has kind {kind!r}; the known extractor kinds are ['i3d']")
    if settings.get("dtype", dtype) != dtype:
        raise UserError(f"--settings says dtype {settings['dtype']!r} but --dtype is {dtype!r}; make them agree")
    return {key: value for key, value in settings.items() if key not in STORE_KEYS}
