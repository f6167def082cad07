"""Speech synthesis for the demo datasets: espeak-ng, as bundled by the PyPI package espeakng-loader.

    from mmfeat.demo.speech import WordRequest, synthesise_words
    words, sample_rate = synthesise_words([WordRequest("banana", voice="en+m3", words_per_minute=200, pitch=50)])
    # words[0]: float32 (N,) in [-1, 1], silence trimmed; N / sample_rate seconds

espeakng-loader ships the engine (libespeak-ng.so) and its data folder and
says where they are; the engine is called through its C API with ctypes, in
synchronous mode, collecting the samples its callback is handed. Words are
synthesised one at a time so that the caller knows where each word is in the
audio it assembles; a request may also hold a phrase, spoken as one utterance
(demo-howto speaks each caption so).

Reproducible output takes two things (measured with espeakng-loader 0.2.4):
the engine draws breath noise from its own generator and from libc's rand(),
both seeded before every word here; and it carries state from one utterance
to the next that no API call resets (the same word twice in a row differs by
a few samples). So each call of `synthesise_words` runs in a fresh process,
where the same requests in the same order always give the same samples.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from mmfeat.errors import UserError

# From espeak-ng's speak_lib.h (the C API, stable since espeak 1.x).
AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesise during espeak_Synth, hand samples to the callback
POS_CHARACTER = 1  # espeak_POSITION_TYPE
ESPEAK_CHARS_AUTO = 0  # text encoding: UTF-8 (ours is ASCII)
ESPEAK_RATE = 1  # espeak_PARAMETER: words per minute
ESPEAK_PITCH = 3  # espeak_PARAMETER: 0..100, 50 is the voice's normal pitch
EE_OK = 0
SILENCE_LEVEL = 0.01  # |sample| below this counts as silence when trimming a word's edges
NOISE_SEED = 1  # both random generators are seeded with this before every word

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class WordRequest:
    """One word to speak. `voice` is an espeak-ng voice with an optional variant ("en+m3", "en+f2")."""

    word: str
    voice: str = "en"
    words_per_minute: int = 175
    pitch: int = 50  # 0..100, 50 is the voice's normal pitch


def synthesise_words(requests: Sequence[WordRequest]) -> tuple[list[np.ndarray], int]:
    """Speak each requested word, in order, in a fresh process; return (samples per word, sample rate).

    Each word's samples are float32 with the silence around it trimmed.
    Same requests, same samples (see the module's docstring for why a process).
    """
    requests = list(requests)
    if not requests:
        return [], 0
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as worker:
        return worker.submit(_synthesise_here, requests).result()


def _synthesise_here(requests: list[WordRequest]) -> tuple[list[np.ndarray], int]:
    """Runs in the worker process: load the engine and speak the words one by one."""
    engine = _Espeak()
    words = []
    for request in requests:
        samples = engine.speak(request.word, request.voice, request.words_per_minute, request.pitch)
        loud = np.flatnonzero(np.abs(samples) >= SILENCE_LEVEL)
        if loud.size == 0:
            raise ValueError(f"espeak-ng produced no sound for {request.word!r}")
        words.append(samples[loud[0] : loud[-1] + 1])
    return words, engine.sample_rate


class _Espeak:
    """The loaded engine: one per process, which then holds its global state."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as error:
            raise UserError(
                "the demo's speech needs espeak-ng from the package espeakng-loader: "
                "pip install --no-deps espeakng-loader==0.2.4 (it is in mmfeat's dependencies)"
            ) from error
        library_path, data_path = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        try:
            self.library = ctypes.CDLL(library_path)
        except OSError as error:
            raise UserError(f"{library_path}: cannot load espeak-ng ({error}); reinstall espeakng-loader") from error
        self.library.espeak_Initialize.restype = ctypes.c_int
        self.library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.libc_srand = ctypes.CDLL(None).srand  # the engine's other source of noise is libc's rand()
        self.library.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self.sample_rate = self.library.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if self.sample_rate <= 0:
            raise UserError(f"espeak-ng failed to start with its data at {data_path}; reinstall espeakng-loader")
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept on self: ctypes must not free it
        self.library.espeak_SetSynthCallback(self._callback)

    def speak(self, text: str, voice: str, words_per_minute: int, pitch: int) -> np.ndarray:
        if self.library.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self.library.espeak_SetParameter(ESPEAK_RATE, int(words_per_minute), 0)
        self.library.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        self.library.espeak_ng_SetRandSeed(NOISE_SEED)
        self.libc_srand(NOISE_SEED)
        self._chunks = []
        encoded = text.encode()
        size = len(encoded) + 1  # with the terminating NUL
        status = self.library.espeak_Synth(encoded, size, 0, POS_CHARACTER, 0, ESPEAK_CHARS_AUTO, None, None)
        if status != EE_OK:
            raise RuntimeError(f"espeak-ng failed to speak {text!r} (status {status})")
        chunks, self._chunks = self._chunks, []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return samples.astype(np.float32) / 32768.0

    def _collect(self, wav, sample_count: int, events) -> int:
        if wav and sample_count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(sample_count,)).copy())
        return 0  # 0: go on synthesising

