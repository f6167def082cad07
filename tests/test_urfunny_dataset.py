"""The UR-FUNNY v2 reader on small releases written here: Python 3 and Python 2 pickles, and every defensive case."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from mmfeat.datasets.urfunny import URFunnyDataset, read_release_pickle
from mmfeat.errors import UserError


def _entry(punchline="a duck stole my pants", context=("we met", "then this"), start=1.0) -> dict:
    """A language entry in the release's structure; words 0.3 s long, 0.1 s apart, context first."""
    position = start
    context_intervals = []
    for sentence in context:
        words = []
        for _ in sentence.split():
            words.append([round(position, 3), round(position + 0.3, 3)])
            position += 0.4
        context_intervals.append(words)
    punchline_intervals = []
    for _ in punchline.split():
        punchline_intervals.append([round(position, 3), round(position + 0.3, 3)])
        position += 0.4
    return {
        "punchline_embedding_indexes": list(range(len(punchline.split()))),
        "context_embedding_indexes": [list(range(len(sentence.split()))) for sentence in context],
        "punchline_sentence": punchline,
        "context_sentences": list(context),
        "punchline_intervals": punchline_intervals,
        "context_intervals": context_intervals,
    }


def _write_release(root: Path, folds: dict, language: dict, labels: dict, videos, dump=None) -> URFunnyDataset:
    dump = dump or (lambda content: pickle.dumps(content, protocol=2))
    root.mkdir(parents=True, exist_ok=True)
    (root / "data_folds.pkl").write_bytes(dump(folds))
    (root / "language_sdk.pkl").write_bytes(dump(language))
    (root / "humor_label_sdk.pkl").write_bytes(dump(labels))
    (root / "videos").mkdir(exist_ok=True)
    for sample_id in videos:
        (root / "videos" / f"{sample_id}.mp4").write_bytes(b"not decoded by the reader")
    return URFunnyDataset(root)


@pytest.fixture
def clean_release(tmp_path) -> URFunnyDataset:
    folds = {"train": [10, 2], "dev": [7], "test": [30]}
    language = {2: _entry(), 7: _entry("plain words here", context=()), 10: _entry(start=0.5), 30: _entry()}
    labels = {2: 1, 7: 0, 10: 0, 30: 1}
    return _write_release(tmp_path / "release", folds, language, labels, videos=[2, 7, 10, 30])


def test_clean_release_reads_back(clean_release):
    dataset = clean_release
    assert dataset.folds() == {"train": ["10", "2"], "dev": ["7"], "test": ["30"]}
    assert dataset.sample_ids() == ["2", "7", "10", "30"]  # numeric order, not "10" < "2"
    assert [dataset.label(sample_id) for sample_id in ("2", "7", "10", "30")] == [1, 0, 0, 1]
    assert dataset.check(on_problem="fail") == {}
    assert dataset.video_path("7") == dataset.root / "videos" / "7.mp4"

    sample = dataset.sample("2")
    assert sample.sample_id == "2" and sample.punchline == "a duck stole my pants"
    assert sample.context == ["we met", "then this"]
    # context words at 1.0, 1.4, 1.8, 2.2; punchline words from 2.6, each 0.3 s
    assert sample.context_interval == pytest.approx((1.0, 2.5))
    assert sample.punchline_interval == pytest.approx((2.6, 4.5))
    assert len(sample.punchline_words) == 5 and sample.punchline_words[0] == pytest.approx((2.6, 2.9))
    assert [len(words) for words in sample.context_words] == [2, 2]

    no_context = dataset.sample("7")
    assert no_context.context == [] and no_context.context_interval is None and no_context.context_words == []
    assert no_context.punchline_interval == pytest.approx((1.0, 2.1))


def test_numpy_intervals_and_numpy_labels_are_read_like_lists(tmp_path):
    entry = _entry()
    entry["punchline_intervals"] = np.array(entry["punchline_intervals"])
    entry["context_intervals"] = [np.array(words) for words in entry["context_intervals"]]
    dataset = _write_release(
        tmp_path, {"train": [1], "dev": [], "test": []}, {1: entry}, {1: np.int64(1)}, videos=[1]
    )
    assert dataset.check("fail") == {}
    assert dataset.label("1") == 1
    assert dataset.sample("1").punchline_interval == pytest.approx((2.6, 4.5))


class _Python2Pickler(pickle._Pickler):
    """Writes `bytes` as Python 2 wrote its `str` (SHORT_BINSTRING / BINSTRING): what a Python 2 release holds."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_python2_str(self, text: bytes) -> None:
        if len(text) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(text)]) + text)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(text)) + text)
        self.memoize(text)

    dispatch[bytes] = _save_python2_str


def _python2_dumps(content) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(content)
    return buffer.getvalue()


def _as_python2_strings(content):
    """Every str of `content` as latin1 bytes, as Python 2 held them."""
    if isinstance(content, str):
        return content.encode("latin1")
    if isinstance(content, dict):
        return {_as_python2_strings(key): _as_python2_strings(value) for key, value in content.items()}
    if isinstance(content, list):
        return [_as_python2_strings(item) for item in content]
    return content


def test_python2_pickles_with_latin1_strings_are_read(tmp_path):
    language = {4: _entry("the caf\xe9 ate my cr\xe8me", context=("na\xefve start",)), 5: _entry()}
    folds = {"train": [4], "dev": [5], "test": []}
    dataset = _write_release(
        tmp_path,
        _as_python2_strings(folds),
        _as_python2_strings(language),
        {4: 1, 5: 0},
        videos=[4, 5],
        dump=lambda content: _python2_dumps(content),
    )
    with pytest.raises(UnicodeDecodeError):  # what a plain pickle.load does with such a file
        pickle.loads((tmp_path / "language_sdk.pkl").read_bytes())
    assert dataset.folds() == {"train": ["4"], "dev": ["5"], "test": []}
    sample = dataset.sample("4")
    assert sample.punchline == "the caf\xe9 ate my cr\xe8me"
    assert sample.context == ["na\xefve start"]
    assert sample.punchline_interval == pytest.approx((1.8, 3.7))
    assert dataset.check("fail") == {}


def test_ascii_python2_pickles_load_without_the_fallback(tmp_path):
    path = tmp_path / "data_folds.pkl"
    path.write_bytes(_python2_dumps({b"train": [1], b"dev": [], b"test": []}))
    assert read_release_pickle(path) == {"train": [1], "dev": [], "test": []}


@pytest.mark.parametrize(
    "content, expected",
    [(b"this is not a pickle", "cannot be read as a pickle"), (pickle.dumps({"a": 1}, protocol=2)[:-3], "cannot be read")],
    ids=["garbage", "truncated"],
)
def test_unreadable_pickle_names_the_file(tmp_path, content, expected):
    path = tmp_path / "humor_label_sdk.pkl"
    path.write_bytes(content)
    with pytest.raises(UserError, match=expected) as raised:
        read_release_pickle(path)
    assert str(path) in str(raised.value)


def test_missing_pickle_and_root_name_the_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        URFunnyDataset(tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"data_folds\.pkl is missing"):
        URFunnyDataset(tmp_path).folds()


def test_folds_of_the_wrong_shape_fail_naming_the_file(tmp_path):
    dataset = _write_release(tmp_path, {"train": [1], "test": [2]}, {}, {}, videos=[])
    with pytest.raises(UserError, match=r"data_folds\.pkl: expected a dict with keys \['train', 'dev', 'test'\]"):
        dataset.folds()


def test_an_id_spelled_twice_in_one_file_fails(tmp_path):
    dataset = _write_release(tmp_path, {"train": [1], "dev": [], "test": []}, {1: _entry()}, {1: 1, "1": 0}, videos=[1])
    with pytest.raises(UserError, match=r"humor_label_sdk\.pkl: sample id 1 appears twice"):
        dataset.label("1")


@pytest.fixture
def broken_release(tmp_path) -> URFunnyDataset:
    """One good sample (1) and one sample per defect, each id naming its defect in the table below."""
    no_key = _entry()
    del no_key["punchline_intervals"]
    bad_interval = _entry()
    bad_interval["punchline_intervals"][1] = [3.0, 2.0]
    empty_punchline = _entry()
    empty_punchline["punchline_sentence"] = "  "
    context_without_times = _entry()
    context_without_times["context_intervals"] = []
    language = {
        1: _entry(),
        2: no_key,
        3: _entry(),  # no label
        4: _entry(),  # label 2
        5: _entry(),  # no video file
        6: empty_punchline,
        7: _entry(),  # words end after its 3 s clip
        8: _entry(),  # in train and in test
        # 9: no language entry
        10: bad_interval,
        11: context_without_times,
    }
    labels = {sample_id: 1 for sample_id in (1, 2, 5, 6, 7, 8, 9, 10, 11)}
    labels[4] = 2
    folds = {"train": [1, 2, 3, 4, 8], "dev": [5, 6, 7], "test": [8, 9, 10, 11]}
    videos = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    return _write_release(tmp_path / "release", folds, language, labels, videos=videos)


EXPECTED_PROBLEMS = {  # id -> (file, words of the problem)
    "2": ("language_sdk.pkl", "missing key 'punchline_intervals'"),
    "3": ("humor_label_sdk.pkl", "has no label"),
    "4": ("humor_label_sdk.pkl", "label 2 is not 0 or 1"),
    "5": ("5.mp4", "the video file is missing"),
    "6": ("language_sdk.pkl", "punchline_sentence is empty"),
    "7": ("language_sdk.pkl", "after the end of the 3.000 s clip"),
    "8": ("data_folds.pkl", "listed 2 times: in train, test"),
    "9": ("language_sdk.pkl", "has no entry"),
    "10": ("language_sdk.pkl", "punchline_intervals[1] is [3.0, 2.0]"),
    "11": ("language_sdk.pkl", "context_intervals has no word interval"),
}


def test_check_skip_reports_each_problem_by_id_and_file(broken_release):
    durations = {"1": 10.0, "7": 3.0}  # sample 1's words end at 4.5 s: inside its clip
    problems = broken_release.check(on_problem="skip", clip_durations=durations)
    assert problems.excluded_ids() == sorted(EXPECTED_PROBLEMS, key=int)
    for sample_id, (file_name, what) in EXPECTED_PROBLEMS.items():
        assert len(problems[sample_id]) == 1, problems[sample_id]
        problem = problems[sample_id][0]
        assert problem.file.name == file_name and what in problem.what, problem
        assert str(problem).startswith(f"{problem.file}: sample {sample_id}: ")
    assert set(problems.to_dict()) == set(EXPECTED_PROBLEMS)
    # without its duration, sample 7 is not known to overrun
    assert "7" not in broken_release.check(on_problem="skip")


def test_check_fail_lists_every_problem_with_file_and_id(broken_release):
    with pytest.raises(UserError) as raised:
        broken_release.check(on_problem="fail", clip_durations={"7": 3.0})
    message = str(raised.value)
    assert message.startswith("10 UR-FUNNY sample(s) cannot be used")
    for sample_id, (file_name, what) in EXPECTED_PROBLEMS.items():
        assert any(
            f"{file_name}: sample {sample_id}: " in line and what in line for line in message.splitlines()
        ), f"sample {sample_id} not listed"


def test_sample_and_label_of_a_broken_entry_raise_naming_file_and_id(broken_release):
    assert broken_release.sample("1").punchline == "a duck stole my pants"
    with pytest.raises(UserError, match=r"language_sdk\.pkl: sample 2: missing key 'punchline_intervals'"):
        broken_release.sample("2")
    with pytest.raises(UserError, match=r"language_sdk\.pkl: sample 9: has no entry"):
        broken_release.sample("9")
    with pytest.raises(UserError, match=r"humor_label_sdk\.pkl: sample 3: has no label"):
        broken_release.label("3")


def test_check_rejects_an_unknown_policy(clean_release):
    with pytest.raises(ValueError, match="on_problem must be one of"):
        clean_release.check(on_problem="ignore")
