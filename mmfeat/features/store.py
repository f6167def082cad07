"""Feature shards: one HDF5 file per extraction job, read back as one store.

    with ShardWriter("results/50salads/features/i3d/shard-0.h5", "i3d", settings) as shard:
        shard.add_video("rgb-01-1", features, frame_indices, {"source": "video", "fps": 30.0})
        shard.add_extracted("rgb-02-1", extracted, {"source": "video", "fps": 30.0})  # an extractor's result
        shard.add_extracted_chunks("rgb-04-1", extractor.extract_chunks(item, model, settings), attrs)  # streamed
        shard.add_decode_record("rgb-01-1", record)
        shard.exclude_video("rgb-03-1", "cannot open rgb-03-1.avi: ...")

    store = FeatureStore("results/50salads/features/i3d")   # every *.h5 in the folder
    store.features("rgb-01-1")                               # (T, D) float32
    store.positions("rgb-01-1"), store.position_kind("rgb-01-1")   # what each row describes

An item is a video or a sample (its id names it either way). Layout of a shard
(every attribute value is JSON text, so nested values such as settings and
versions survive HDF5 unchanged):

    /                        attrs: format, format_version, extractor, settings, dtype, complete
    /features/{item}         (T, D) in the shard's dtype; attrs: what made it (provenance), row_names
    /positions/{item}        what each row describes; attrs: kind, one of items.POSITION_KINDS:
                             frame_index (T,) int64 stream index of the row's (centre) frame,
                             sample_range (T, 2) int64 audio samples, time_interval (T, 2) float64 seconds
    /outputs/{name}/{item}   further per-row outputs (T, D') in the shard's dtype (e.g. S3D's joint embedding)
    /manifest/decode_records/{item}    JSON text: the decoder's record
    /manifest/excluded/{item}          text: why the item has no features

Positions and decode records are datasets, not attributes, because HDF5
attributes stop at 64 KiB and a 50Salads video has ~18k frames. Rows written
chunk by chunk (`add_extracted_chunks`) go to chunked datasets that grow as
the extractor yields (CHUNK_ROWS rows per HDF5 chunk); they read back exactly
as a whole-array write of the same rows. The writer
fills a hidden temporary file and renames it into place only when its `with`
block ends cleanly, so a shard at its final path is always complete.

A write that fails (a full disk, a folder that is not writable) stops the
writer at once: the temporary file is removed and a UserError names the shard,
its folder and the cause. Rows reach the file when they are written (no HDF5
chunk cache), so a full disk fails the write that meets it, not a later flush.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from mmfeat.atomic import WriteFailedError, replaced_on_success, write_failure
from mmfeat.errors import UserError
from mmfeat.features.extractors.items import FRAME_INDEX, POSITION_KINDS, Extracted

log = logging.getLogger(__name__)

SHARD_FORMAT = "mmfeat-feature-shard"
SHARD_FORMAT_VERSION = 2  # 2: positions of any kind, further outputs, row names (1 had frame_indices only)
STORED_DTYPES = ("float16", "float32")  # float16 halves the disk; I3D features fit its range
CHUNK_ROWS = 64  # rows per HDF5 chunk of a streamed item: 256 KiB of 2048-d float16, a few batches


class ShardWriter:
    """Write one shard; the file appears at `path` only if the `with` block succeeds."""

    def __init__(self, path: str | os.PathLike, extractor: str, settings: dict, dtype: str = "float16") -> None:
        if dtype not in STORED_DTYPES:
            raise UserError(f"feature dtype {dtype!r} is not supported; use one of {list(STORED_DTYPES)}")
        self.path = Path(path)
        self.extractor = extractor
        self.settings = settings
        self.dtype = dtype
        self._replacement = replaced_on_success(self.path)
        self.partial_path: Path | None = None  # the hidden temporary, once the block has begun
        self._replacing = False  # between the replacement's start and its end
        self._file: h5py.File | None = None
        self._names: set[str] = set()

    def __enter__(self) -> ShardWriter:
        try:
            with self._writing():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.partial_path = self._replacement.__enter__()
                self._replacing = True
                # rdcc_nbytes=0, no chunk cache: appended rows are written at once, so a full disk fails
                # the append; from the cache, a failed write surfaced only in h5py's object clean-up,
                # printed and ignored, and the job went on until it crashed
                self._file = h5py.File(self.partial_path, "w", rdcc_nbytes=0)
                attrs = self._file.attrs
                attrs["format"] = SHARD_FORMAT
                attrs["format_version"] = SHARD_FORMAT_VERSION
                attrs["extractor"] = self.extractor
                attrs["settings"] = _to_json(self.settings)
                attrs["dtype"] = self.dtype
                attrs["complete"] = False
                for group in ("features", "positions", "outputs", "manifest/decode_records", "manifest/excluded"):
                    self._file.create_group(group)
        except BaseException as error:
            self._abandon(type(error), error, error.__traceback__)
            raise
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> bool:
        if exc_type is not None:
            self._abandon(exc_type, exc_value, traceback)
            return False
        try:
            with self._writing():
                self._file.attrs["complete"] = True
                self._file.close()  # writes what HDF5 still holds: it too can meet a full disk
                self._file = None
                self._replacing = False
                self._replacement.__exit__(None, None, None)  # renames the file into place
        except BaseException as error:
            self._abandon(type(error), error, error.__traceback__)
            raise
        log.info("wrote %s (%d videos)", self.path, len(self._names))
        return False

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write of the shard (OSError, from h5py or the file system) into write_failure's UserError."""
        try:
            yield
        except OSError as error:
            written = self.partial_path.stat().st_size if self.partial_path and self.partial_path.exists() else None
            raise write_failure(self.path, error, written) from error

    def _abandon(self, exc_type, exc_value, traceback) -> None:
        """Close and remove the unfinished file after a failure, whatever it was.

        The file is removed and emptied before HDF5 closes it: closing writes
        what HDF5 still holds, which on a full disk would fail too and leave
        HDF5 with a file it cannot close (it crashed at exit, status 139).
        """
        if self._file is not None:
            self.partial_path.unlink(missing_ok=True)  # the name goes now; the space when HDF5 lets go of it
            try:
                os.ftruncate(self._file.id.get_vfd_handle(), 0)
                self._file.close()
            except (OSError, RuntimeError, ValueError) as error:
                log.debug("closing the abandoned %s: %s", self.partial_path, error)
            self._file = None
        if self._replacing:
            self._replacing = False
            self._replacement.__exit__(exc_type, exc_value, traceback)  # removes the temporary, if still there
            log.info("removed unfinished %s", self.partial_path)

    def add_extracted(self, video_id: str, extracted: Extracted, attrs: dict) -> None:
        """Store what an extractor returned for one item, with its provenance `attrs`."""
        self.add_video(video_id, extracted.features, extracted.positions, attrs, position_kind=extracted.position_kind,
                       outputs=extracted.outputs, row_names=extracted.row_names)

    def add_video(self, video_id: str, features: np.ndarray, positions: np.ndarray, attrs: dict,
                  position_kind: str = FRAME_INDEX, outputs: dict[str, np.ndarray] | None = None,
                  row_names: list[str] | None = None) -> None:
        """Store an item's (T, D) features, what each row describes, and what made them.

        `positions` are the stream frame indices (T,) by default; `attrs` holds the
        per-item provenance (weights, fps, source, versions, ...); the shard's
        extractor, settings and dtype are added to it.
        """
        self._claim(video_id)
        features = np.asarray(features)
        positions = np.asarray(positions)
        if features.ndim != 2:
            raise ValueError(f"features of {video_id!r} must be (T, D), got shape {features.shape}")
        if position_kind not in POSITION_KINDS:
            raise ValueError(f"position_kind must be one of {POSITION_KINDS}, got {position_kind!r}")
        expected_shape = (features.shape[0],) if position_kind == FRAME_INDEX else (features.shape[0], 2)
        if positions.shape != expected_shape:
            raise ValueError(f"{position_kind} positions of {video_id!r} must have shape {expected_shape}, "
                             f"got {positions.shape}")
        with self._writing():
            dataset = self._file["features"].create_dataset(video_id, data=self._stored(video_id, features))
            provenance = {"extractor": self.extractor, "settings": self.settings, "stored_dtype": self.dtype, **attrs}
            if row_names is not None:
                provenance["row_names"] = list(row_names)
            for key, value in provenance.items():
                dataset.attrs[key] = _to_json(value)
            position_dtype = np.float64 if position_kind == "time_interval" else np.int64
            stored_positions = self._file["positions"].create_dataset(video_id, data=positions.astype(position_dtype))
            stored_positions.attrs["kind"] = position_kind
            for name, values in (outputs or {}).items():
                values = np.asarray(values)
                if values.ndim != 2 or values.shape[0] != features.shape[0]:
                    raise ValueError(f"output {name!r} of {video_id!r} must be ({features.shape[0]}, D), "
                                     f"got {values.shape}")
                group = self._file["outputs"].require_group(_checked_name(name))
                group.create_dataset(video_id, data=self._stored(f"{video_id} ({name})", values))

    def add_extracted_chunks(self, video_id: str, chunks: Iterable[Extracted], attrs: dict) -> tuple[int, int]:
        """Store an item's rows as an extractor yields them (`extract_chunks`); returns the (rows, D) written.

        Each chunk is appended to the shard when it arrives, so memory holds one
        chunk, not the item. If the chunks raise (an unreadable frame, a
        decoder error), what was written of the item is removed and the error
        raised again, so the item can still be listed as excluded. A failed
        write stops the extractor (its generator is closed) and the shard
        (write_failure's UserError).
        """
        self._claim(video_id)
        paths = [f"features/{video_id}", f"positions/{video_id}"]
        first = None
        row_names: list[str] | None = None
        try:
            for chunk in chunks:
                with self._writing():
                    if first is None:
                        first = chunk
                        paths += [f"outputs/{_checked_name(name)}/{video_id}" for name in chunk.outputs]
                        self._create_growing(video_id, chunk)
                        row_names = None if chunk.row_names is None else []
                    self._append(video_id, first, chunk)
                if row_names is not None:
                    row_names += chunk.row_names
            if first is None:
                raise ValueError(f"the extractor yielded no chunk for {video_id!r}; it must yield at least one")
        except WriteFailedError:
            _close_chunks(chunks)
            raise  # the whole shard is abandoned: nothing more is written to it
        except BaseException:
            _close_chunks(chunks)
            self._remove_item(video_id, paths)
            raise
        with self._writing():
            features = self._file["features"][video_id]
            provenance = {"extractor": self.extractor, "settings": self.settings, "stored_dtype": self.dtype, **attrs}
            if row_names is not None:
                provenance["row_names"] = row_names
            for key, value in provenance.items():
                features.attrs[key] = _to_json(value)
            return features.shape

    def _remove_item(self, video_id: str, paths: list[str]) -> None:
        """Remove what was written of an item whose chunks failed, so that it can be listed as excluded."""
        for path in paths:
            if path in self._file:
                del self._file[path]  # its space stays unused in the file
        self._names.discard(video_id)

    def _create_growing(self, video_id: str, chunk: Extracted) -> None:
        """Empty datasets for an item's rows, with their trailing shape from its first chunk, growing along rows."""
        def growing(group, name: str, trailing: tuple[int, ...], dtype) -> None:
            # fill_time="never": without a chunk cache (see __enter__), a fill would write every new
            # chunk whole before its first rows, twice the bytes; rows past the shape are never read
            group.create_dataset(name, shape=(0, *trailing), maxshape=(None, *trailing), dtype=dtype,
                                 chunks=(CHUNK_ROWS, *trailing), fill_time="never")

        growing(self._file["features"], video_id, chunk.features.shape[1:], self.dtype)
        position_dtype = np.float64 if chunk.position_kind == "time_interval" else np.int64
        growing(self._file["positions"], video_id, chunk.positions.shape[1:], position_dtype)
        self._file["positions"][video_id].attrs["kind"] = chunk.position_kind
        for name, values in chunk.outputs.items():
            growing(self._file["outputs"].require_group(_checked_name(name)), video_id, values.shape[1:], self.dtype)

    def _append(self, video_id: str, first: Extracted, chunk: Extracted) -> None:
        """Append one chunk's rows; every chunk must match the first in kind, widths and outputs."""
        if (chunk.position_kind != first.position_kind or chunk.features.shape[1:] != first.features.shape[1:]
                or sorted(chunk.outputs) != sorted(first.outputs)
                or (chunk.row_names is None) != (first.row_names is None)):
            raise ValueError(f"a chunk of {video_id!r} does not match its first chunk (position kind, feature "
                             f"width, outputs and row names must stay the same)")
        position_dtype = np.float64 if chunk.position_kind == "time_interval" else np.int64
        _append_rows(self._file["features"][video_id], self._stored(video_id, chunk.features))
        _append_rows(self._file["positions"][video_id], chunk.positions.astype(position_dtype))
        for name, values in chunk.outputs.items():
            _append_rows(self._file["outputs"][name][video_id], self._stored(f"{video_id} ({name})", values))

    def _stored(self, what: str, values: np.ndarray) -> np.ndarray:
        """`values` in the shard's dtype; an overflow or a NaN fails with the fix."""
        with np.errstate(over="ignore"):  # an overflow is reported below, with the fix
            stored = values.astype(self.dtype)
        if not np.isfinite(stored).all():
            finite_before = np.isfinite(values).all()
            fix = "store them as float32 (the extractor's dtype: float32)" if finite_before else "check the features' source"
            raise UserError(
                f"features of {what!r} are not finite as {self.dtype} "
                f"({'they overflow it' if finite_before else 'NaN or inf given'}); {fix}"
            )
        return stored

    def add_decode_record(self, video_id: str, record: dict) -> None:
        """Keep the decoder's record of a video (frames expected and decoded, skipped indices, ...)."""
        with self._writing():
            self._file["manifest/decode_records"].create_dataset(_checked_name(video_id), data=_to_json(record))

    def exclude_video(self, video_id: str, reason: str) -> None:
        """List a video as having no features in this shard, and why."""
        self._claim(video_id)
        with self._writing():
            self._file["manifest/excluded"].create_dataset(video_id, data=reason)

    def _claim(self, video_id: str) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path}: use ShardWriter inside a `with` block")
        _checked_name(video_id)
        if video_id in self._names:
            raise ValueError(f"video {video_id!r} was already added to {self.path}")
        self._names.add(video_id)


class FeatureStore:
    """Read the videos of one or more shards as one store."""

    def __init__(self, paths: Iterable[str | os.PathLike] | str | os.PathLike) -> None:
        self.shard_paths = _shard_paths(paths)
        self._shard_of_video: dict[str, Path] = {}
        self._decode_records: dict[str, dict] = {}
        self._excluded: dict[str, str] = {}
        for shard_path in self.shard_paths:
            self._index_shard(shard_path)

    def __repr__(self) -> str:
        if len(self.shard_paths) == 1:
            return f"FeatureStore({self.shard_paths[0]})"
        return f"FeatureStore({len(self.shard_paths)} shards in {self.shard_paths[0].parent})"

    def videos(self) -> list[str]:
        """Ids of the videos that have features, sorted."""
        return sorted(self._shard_of_video)

    def features(self, video_id: str, output: str | None = None) -> np.ndarray:
        """The item's features (T, D) float32, or one of its further outputs by name."""
        with h5py.File(self._shard(video_id), "r") as shard:
            if output is None:
                return shard["features"][video_id][()].astype(np.float32)
            if output not in shard["outputs"] or video_id not in shard["outputs"][output]:
                known = sorted(shard["outputs"])
                raise KeyError(f"{video_id!r} has no output {output!r} in {shard.filename} (outputs: {known})")
            return shard["outputs"][output][video_id][()].astype(np.float32)

    def positions(self, video_id: str) -> np.ndarray:
        """What each feature row describes, as `position_kind` says: (T,) frame indices or (T, 2) ranges."""
        with h5py.File(self._shard(video_id), "r") as shard:
            return shard["positions"][video_id][()]

    def position_kind(self, video_id: str) -> str:
        """frame_index, sample_range or time_interval (see items.POSITION_KINDS)."""
        with h5py.File(self._shard(video_id), "r") as shard:
            return str(shard["positions"][video_id].attrs["kind"])

    def frame_indices(self, video_id: str) -> np.ndarray:
        """The stream index of each feature row's frame, (T,) int64; only for rows that are frames."""
        kind = self.position_kind(video_id)
        if kind != FRAME_INDEX:
            raise UserError(f"the rows of {video_id!r} in {self!r} are {kind} positions, not video frames; "
                            f"use features of a video extractor here")
        return self.positions(video_id)

    def provenance(self, video_id: str) -> dict:
        """What made the item's features: extractor, settings, weights, fps, source, versions, row names, ..."""
        with h5py.File(self._shard(video_id), "r") as shard:
            attrs = shard["features"][video_id].attrs
            return {key: json.loads(attrs[key]) for key in attrs}

    def decode_records(self) -> dict[str, dict]:
        """The decoder's record of every decoded video, by id."""
        return dict(self._decode_records)

    def excluded(self) -> dict[str, str]:
        """Videos left without features, with the reason, by id."""
        return dict(self._excluded)

    def shard_path(self, video_id: str) -> Path:
        """The shard file that holds the item's features, for messages that name it."""
        return self._shard(video_id)

    def _shard(self, video_id: str) -> Path:
        try:
            return self._shard_of_video[video_id]
        except KeyError:
            raise KeyError(f"video {video_id!r} is not in {self!r}") from None

    def _index_shard(self, shard_path: Path) -> None:
        try:
            shard = h5py.File(shard_path, "r")
        except OSError as error:
            raise UserError(
                f"{shard_path} is not a readable HDF5 file ({error}); delete it and re-run its job"
            ) from error
        with shard:
            if shard.attrs.get("format") != SHARD_FORMAT or not shard.attrs.get("complete", False):
                raise UserError(
                    f"{shard_path} is not a complete mmfeat feature shard; delete it and re-run the job that makes it"
                )
            if shard.attrs.get("format_version") != SHARD_FORMAT_VERSION:
                raise UserError(
                    f"{shard_path} has shard format version {shard.attrs.get('format_version')}, this mmfeat reads "
                    f"{SHARD_FORMAT_VERSION}; delete it and re-run the job that makes it"
                )
            names = list(shard["features"]) + list(shard["manifest/excluded"])
            for video_id in names:
                if video_id in self._shard_of_video or video_id in self._excluded:
                    other = self._shard_of_video.get(video_id, "another shard's exclusion list")
                    raise UserError(
                        f"video {video_id!r} is in both {other} and {shard_path}; "
                        "each video belongs to one shard, so delete the stale shard"
                    )
            for video_id in shard["features"]:
                self._shard_of_video[video_id] = shard_path
            for video_id, reason in shard["manifest/excluded"].items():
                self._excluded[video_id] = reason.asstr()[()]
            for video_id, record in shard["manifest/decode_records"].items():
                self._decode_records[video_id] = json.loads(record.asstr()[()])


def _close_chunks(chunks: Iterable[Extracted]) -> None:
    """Stop an extractor's generator now (its reader thread, its decoder), not when it is collected."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _append_rows(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    """Grow a chunked dataset along its first axis by `rows`."""
    if len(rows) == 0:
        return
    start = dataset.shape[0]
    dataset.resize(start + len(rows), axis=0)
    dataset[start:] = rows


def _shard_paths(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """A folder means every *.h5 in it; otherwise the given files, which must exist."""
    if isinstance(paths, (str, os.PathLike)):
        single = Path(paths)
        if single.is_dir():
            shard_paths = sorted(single.glob("*.h5"))
            if not shard_paths:
                raise UserError(f"no feature shards (*.h5) in {single}; run the feature extraction first")
            return shard_paths
        paths = [single]
    shard_paths = [Path(path) for path in paths]
    missing = [str(path) for path in shard_paths if not path.is_file()]
    if missing:
        raise UserError(f"feature shard(s) not found: {', '.join(missing)}; run the feature extraction first")
    return shard_paths


def _checked_name(video_id: str) -> str:
    """A video id usable as an HDF5 name: '/' would make a sub-group."""
    if not video_id or "/" in video_id or video_id in (".", ".."):
        raise ValueError(f"video id {video_id!r} cannot name an HDF5 dataset; ids must be non-empty, without '/'")
    return video_id


def _to_json(value) -> str:
    return json.dumps(value, sort_keys=True)
