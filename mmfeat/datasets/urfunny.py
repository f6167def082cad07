"""UR-FUNNY v2 as released (dataset kind `humor`): folds, transcripts with word times, labels, raw clips.

    from mmfeat.datasets.urfunny import URFunnyDataset
    dataset = URFunnyDataset("data/urfunny")
    problems = dataset.check(on_problem="skip")           # or "fail": raises, listing every problem
    for sample_id in dataset.folds()["train"]:
        if sample_id in problems:
            continue                                      # excluded, and listed in the report
        sample, label = dataset.sample(sample_id), dataset.label(sample_id)

The release layout:

    ROOT/data_folds.pkl        {"train": [id, ...], "dev": [...], "test": [...]}, speaker-independent
    ROOT/language_sdk.pkl      id -> {"punchline_sentence": str, "context_sentences": [str, ...],
                                      "punchline_intervals": [[start, end], ...] (seconds, one per word),
                                      "context_intervals": [[[start, end], ...], ...] (one list per sentence),
                                      "punchline_embedding_indexes", "context_embedding_indexes" (unused here)}
    ROOT/humor_label_sdk.pkl   id -> 1 (the punchline was followed by laughter) or 0
    ROOT/videos/{id}.mp4       the raw clip

The release's ids are integers; here every id is its string (`"42"`), which is
also the clip's file stem. The dataset kind `humor` of the layout registry
(mmfeat.datasets.layouts): a sample's audio segments and texts are its
punchline and, where it has one, its context. The pickles may come from Python 2: `read_release_pickle`
loads both kinds. Unpickling runs code named in the file: read only the
release's own pickles.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mmfeat.datasets.layouts import TimedText
from mmfeat.datasets.roots import require_dataset_root
from mmfeat.errors import UserError

FOLD_NAMES = ("train", "dev", "test")
FOLDS_FILE = "data_folds.pkl"
LANGUAGE_FILE = "language_sdk.pkl"
LABELS_FILE = "humor_label_sdk.pkl"
VIDEOS_DIR = "videos"
VIDEO_SUFFIX = ".mp4"
LANGUAGE_KEYS = ("punchline_sentence", "context_sentences", "punchline_intervals", "context_intervals")
# Word times come from forced alignment, clip durations from the container: allow
# a word to end this much after the clip's end before calling it outside the clip.
CLIP_END_TOLERANCE_S = 0.05
ON_PROBLEM_CHOICES = ("skip", "fail")
DATA_SECTION_HINT = "see README.md, section 'Data', for the UR-FUNNY v2 layout"

Interval = tuple[float, float]  # (start, end) in seconds from the start of the clip


@dataclass(frozen=True)
class HumorSample:
    """One sample's transcript and where its parts are in the clip.

    `punchline_interval` spans the punchline's words (first start, last end);
    `context_interval` spans every context word, or is None when the sample
    has no context words. The per-word intervals are kept as released:
    `context_words` holds one list per context sentence.
    """

    sample_id: str
    punchline: str
    context: list[str]
    punchline_interval: Interval
    context_interval: Interval | None
    punchline_words: list[Interval]
    context_words: list[list[Interval]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one sample: the file that says so and what."""

    sample_id: str
    file: Path
    what: str

    def __str__(self) -> str:
        return f"{self.file}: sample {self.sample_id}: {self.what}"


class Problems(dict[str, list[Problem]]):
    """Sample id -> the list of its `Problem`s; empty when every sample is usable.

    Callers exclude `excluded_ids()` and put `to_dict()` in their report.
    """

    def add(self, problem: Problem) -> None:
        self.setdefault(problem.sample_id, []).append(problem)

    def excluded_ids(self) -> list[str]:
        return sorted(self, key=_id_sort_key)

    def lines(self) -> list[str]:
        return [str(problem) for sample_id in self.excluded_ids() for problem in self[sample_id]]

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-ready: id -> ["FILE: what", ...], ids in order."""
        return {sample_id: [f"{p.file}: {p.what}" for p in self[sample_id]] for sample_id in self.excluded_ids()}


class URFunnyDataset:
    """Read access to one UR-FUNNY v2 root; every error names the file that is wrong."""

    KIND = "humor"  # the layout registry's members (mmfeat.datasets.layouts.DatasetLayout)
    READS = frozenset({"video", "audio", "text"})
    # a shard of any modality follows a change to the transcript, which lists the samples worth reading
    TRANSCRIPT_READS = frozenset({"video", "audio", "text"})
    MISSING_VIDEO_EXCLUDES = True  # the release has samples without a clip: each is listed, the rest go on
    TRANSCRIPT_FILE = LANGUAGE_FILE

    def __init__(self, root: str | Path):
        self.root = require_dataset_root(root, DATA_SECTION_HINT)

    @property
    def folds_path(self) -> Path:
        return self.root / FOLDS_FILE

    @property
    def language_path(self) -> Path:
        return self.root / LANGUAGE_FILE

    @property
    def labels_path(self) -> Path:
        return self.root / LABELS_FILE

    def video_path(self, sample_id: str) -> Path:
        return self.root / VIDEOS_DIR / f"{sample_id}{VIDEO_SUFFIX}"

    def folds(self) -> dict[str, list[str]]:
        """{"train": [...], "dev": [...], "test": [...]}: each fold's ids as strings, in the file's order."""
        return {name: list(ids) for name, ids in self._folds.items()}

    def sample_ids(self) -> list[str]:
        """Every id in any fold, unique, in numeric order (the workflow's list of clips)."""
        return sorted({sample_id for ids in self._folds.values() for sample_id in ids}, key=_id_sort_key)

    def label(self, sample_id: str) -> int:
        """1 when the punchline was followed by laughter, else 0."""
        label, problem = _parse_label(self._labels.get(str(sample_id)))
        if problem:
            raise UserError(f"{self.labels_path}: sample {sample_id}: {problem}")
        return label

    def sample(self, sample_id: str) -> HumorSample:
        """The transcript and intervals of one sample; a malformed entry raises, listing what is wrong."""
        sample_id = str(sample_id)
        sample, problems = _parse_language_entry(sample_id, self._language.get(sample_id))
        if problems:
            raise UserError(f"{self.language_path}: sample {sample_id}: " + "; ".join(problems))
        return sample

    def check(self, on_problem: str, clip_durations: dict[str, float] | None = None) -> Problems:
        """Find every sample in the folds that cannot be used, and why.

        Looks for: an id listed in several folds (or twice in one), no or a
        malformed language entry (missing key, empty punchline, malformed word
        intervals, context sentences without word times), no or a non-0/1
        label, no video file, and, for ids in `clip_durations` (id -> seconds),
        words that end after the clip. With on_problem="fail" any problem
        raises a UserError listing them all; with "skip" they are returned,
        for the caller to exclude those ids and list them in its report.
        """
        if on_problem not in ON_PROBLEM_CHOICES:
            raise ValueError(f"on_problem must be one of {ON_PROBLEM_CHOICES}, not {on_problem!r}")
        problems = Problems()
        for problem in self._fold_problems():
            problems.add(problem)
        durations = {str(key): value for key, value in (clip_durations or {}).items()}
        for sample_id in self.sample_ids():
            for problem in self._sample_problems(sample_id, durations.get(sample_id)):
                problems.add(problem)
        if problems and on_problem == "fail":
            raise UserError(
                f"{len(problems)} UR-FUNNY sample(s) cannot be used (set on_problem to 'skip' to exclude them "
                "and list them in the report):\n  " + "\n  ".join(problems.lines())
            )
        return problems

    def _fold_problems(self) -> Iterable[Problem]:
        seen_in: dict[str, list[str]] = {}
        for fold_name, ids in self._folds.items():
            for sample_id in ids:
                seen_in.setdefault(sample_id, []).append(fold_name)
        for sample_id, fold_names in seen_in.items():
            if len(fold_names) > 1:
                yield Problem(sample_id, self.folds_path, f"listed {len(fold_names)} times: in {', '.join(fold_names)}")

    # --- the layout protocol (mmfeat.datasets.layouts.DatasetLayout)

    @staticmethod
    def annotation_files(root: Path, item_ids: list[str], config: Mapping) -> list[Path]:
        """The release's three pickles: folds, transcripts, labels."""
        return [Path(root) / name for name in (FOLDS_FILE, LANGUAGE_FILE, LABELS_FILE)]

    @staticmethod
    def check_settings(config: Mapping) -> dict:
        return {"kind": URFunnyDataset.KIND, "on_problem": config["on_problem"]}

    def check_watched(self, config: Mapping) -> list[Path]:
        return [self.root / name for name in (FOLDS_FILE, LANGUAGE_FILE, LABELS_FILE, VIDEOS_DIR)]

    def check_configured(self, config: Mapping) -> None:
        """`check` with the config's on_problem: with skip, the problems are the report's, not the planner's."""
        self.check(on_problem=config["on_problem"])

    def item_ids(self) -> list[str]:
        return self.sample_ids()

    def video_files(self, item_ids: list[str]) -> dict[str, Path]:
        """ROOT/videos/{id}.mp4 of each sample that has one."""
        return {item_id: path for item_id in item_ids if (path := self.video_path(item_id)).is_file()}

    def audio_segments(self, item_id: str) -> dict[str, tuple[float, float]]:
        """punchline, then context when the sample has one: the rows an audio extractor makes."""
        return {name: (timed.start, timed.end) for name, timed in self.timed_texts(item_id).items()}

    def timed_texts(self, item_id: str) -> dict[str, TimedText]:
        """The punchline, and the context's sentences joined, each over the interval its words span."""
        sample = self.sample(item_id)
        texts = {"punchline": TimedText(*sample.punchline_interval, sample.punchline)}
        if sample.context_interval is not None:
            texts["context"] = TimedText(*sample.context_interval, " ".join(sample.context))
        return texts

    def _sample_problems(self, sample_id: str, clip_duration: float | None) -> Iterable[Problem]:
        sample, language_problems = _parse_language_entry(sample_id, self._language.get(sample_id))
        for what in language_problems:
            yield Problem(sample_id, self.language_path, what)
        _, label_problem = _parse_label(self._labels.get(sample_id))
        if label_problem:
            yield Problem(sample_id, self.labels_path, label_problem)
        video_path = self.video_path(sample_id)
        if not video_path.is_file():
            yield Problem(sample_id, video_path, "the video file is missing")
        if sample is not None and clip_duration is not None:
            last_end = max(end for _, end in [sample.punchline_interval, sample.context_interval or (0.0, 0.0)])
            if last_end > clip_duration + CLIP_END_TOLERANCE_S:
                what = f"a word ends at {last_end:.3f} s, after the end of the {clip_duration:.3f} s clip"
                yield Problem(sample_id, self.language_path, what)

    @cached_property
    def _folds(self) -> dict[str, list[str]]:
        folds = read_release_pickle(self.folds_path)
        if not isinstance(folds, dict) or any(name not in folds for name in FOLD_NAMES):
            found = sorted(map(str, folds)) if isinstance(folds, dict) else type(folds).__name__
            raise UserError(
                f"{self.folds_path}: expected a dict with keys {list(FOLD_NAMES)}, found {found}; {DATA_SECTION_HINT}"
            )
        for name in FOLD_NAMES:
            if isinstance(folds[name], (str, bytes)) or not isinstance(folds[name], Iterable):
                found = type(folds[name]).__name__
                raise UserError(f"{self.folds_path}: fold {name!r} must be a list of sample ids, found {found}")
        return {name: [_id_string(sample_id) for sample_id in folds[name]] for name in FOLD_NAMES}

    @cached_property
    def _language(self) -> dict[str, object]:
        return _keyed_by_id_string(read_release_pickle(self.language_path), self.language_path)

    @cached_property
    def _labels(self) -> dict[str, object]:
        return _keyed_by_id_string(read_release_pickle(self.labels_path), self.labels_path)


def read_release_pickle(path: str | Path) -> object:
    """Load one of the release's pickles, written by Python 3 or by Python 2.

    Python 2's `str` is bytes: Python 3 decodes it as ASCII by default and
    fails on any other byte, so such a file is read again with latin1, which
    maps every byte to a character (numpy arrays pickled by Python 2 need it
    too). Anything else that goes wrong raises a UserError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is missing; {DATA_SECTION_HINT}")
    try:
        return _load_pickle(path, encoding="ASCII")
    except UnicodeDecodeError:
        pass
    except Exception as error:  # any unpickling failure: the file is damaged or not a pickle
        raise _unreadable_pickle_error(path, error) from error
    try:
        return _load_pickle(path, encoding="latin1")
    except Exception as error:
        raise _unreadable_pickle_error(path, error) from error


def _load_pickle(path: Path, encoding: str) -> object:
    with path.open("rb") as file:
        return pickle.load(file, encoding=encoding)


def _unreadable_pickle_error(path: Path, error: Exception) -> UserError:
    return UserError(
        f"{path} cannot be read as a pickle ({type(error).__name__}: {error}); "
        f"replace it with the file from the UR-FUNNY v2 release"
    )


def _id_string(sample_id: object) -> str:
    """The release's ids are ints (Python 2 pickles may hold byte strings): one string form for all."""
    if isinstance(sample_id, bytes):
        return sample_id.decode("latin1")
    return str(sample_id)


def _id_sort_key(sample_id: str) -> tuple:
    return (0, int(sample_id), "") if sample_id.isdigit() else (1, 0, sample_id)


def _keyed_by_id_string(content: object, path: Path) -> dict[str, object]:
    if not isinstance(content, dict):
        found = type(content).__name__
        raise UserError(f"{path}: expected a dict keyed by sample id, found {found}; {DATA_SECTION_HINT}")
    keyed: dict[str, object] = {}
    for key, value in content.items():
        sample_id = _id_string(key)
        if sample_id in keyed:
            raise UserError(f"{path}: sample id {sample_id} appears twice (as {key!r} and another spelling)")
        keyed[sample_id] = value
    return keyed


def _parse_label(value: object) -> tuple[int, str | None]:
    """(label, None), or (-1, what is wrong). Ints, floats and numpy scalars equal to 0 or 1 are labels."""
    if value is None:
        return -1, "has no label"
    try:
        number = None if isinstance(value, (str, bytes)) else float(value)
    except (TypeError, ValueError):
        number = None
    if number not in (0.0, 1.0):
        return -1, f"label {value!r} is not 0 or 1"
    return int(number), None


def _parse_language_entry(sample_id: str, entry: object) -> tuple[HumorSample | None, list[str]]:
    """(sample, []) for a usable entry, else (None or a partial sample, the list of what is wrong)."""
    if entry is None:
        return None, ["has no entry"]
    if not isinstance(entry, dict):
        return None, [f"entry is a {type(entry).__name__}, expected a dict"]
    missing = [key for key in LANGUAGE_KEYS if key not in entry]
    if missing:
        return None, [f"missing key {key!r}" for key in missing]
    problems: list[str] = []
    punchline = _text(entry["punchline_sentence"])
    if not punchline.strip():
        problems.append("punchline_sentence is empty")
    context = [_text(sentence) for sentence in _as_list(entry["context_sentences"])]
    punchline_words = _word_intervals(entry["punchline_intervals"], "punchline_intervals", problems)
    if not _as_list(entry["punchline_intervals"]):
        problems.append("punchline_intervals holds no word interval: the punchline cannot be found in the clip")
    context_words = [
        _word_intervals(sentence, f"context_intervals[{index}]", problems)
        for index, sentence in enumerate(_as_list(entry["context_intervals"]))
    ]
    all_context_words = [interval for sentence in context_words for interval in sentence]
    if any(sentence.strip() for sentence in context) and not all_context_words:
        problems.append(f"context_sentences has {len(context)} sentence(s) but context_intervals has no word interval")
    if problems:
        return None, problems
    sample = HumorSample(
        sample_id=sample_id,
        punchline=punchline,
        context=context,
        punchline_interval=_span(punchline_words),
        context_interval=_span(all_context_words) if all_context_words else None,
        punchline_words=punchline_words,
        context_words=context_words,
    )
    return sample, []


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin1")
    if isinstance(value, (list, tuple)):  # some tools wrap a sentence in a one-element list
        return " ".join(_text(part) for part in value)
    return "" if value is None else str(value)


def _as_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    return list(value)


def _word_intervals(value: object, key: str, problems: list[str]) -> list[Interval]:
    """[(start, end), ...] from a list of pairs (lists, tuples or a numpy array); malformed ones go to `problems`."""
    intervals: list[Interval] = []
    for index, pair in enumerate(_as_list(value)):
        try:
            start, end = (float(bound) for bound in pair)
        except (TypeError, ValueError):
            problems.append(f"{key}[{index}] is {pair!r}, expected [start, end] in seconds")
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            problems.append(f"{key}[{index}] is [{start}, {end}]: expected 0 <= start <= end")
            continue
        intervals.append((start, end))
    return intervals


def _span(intervals: list[Interval]) -> Interval:
    return (min(start for start, _ in intervals), max(end for _, end in intervals))
