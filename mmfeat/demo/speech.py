"""Speech synthesis for the demo datasets: espeak-ng, as bundled by the PyPI package espeakng-loader.

    from mmfeat.demo.speech import speech_sample_rate, synthesise_word
    samples = synthesise_word("banana", voice="en+m3", words_per_minute=200)   # float32 (N,) in [-1, 1]
    seconds = samples.size / speech_sample_rate()

espeakng-loader ships the engine (libespeak-ng.so) and its data folder and
says where they are; the engine is called through its C API with ctypes, in
synchronous mode, collecting the samples its callback is handed. Words are
synthesised one at a time so that the caller knows where each word is in the
audio it assembles. The engine holds global state: it is initialised once per
process and its calls are not thread-safe.
"""

from __future__ import annotations

import ctypes
import threading
from functools import cache

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

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def speech_sample_rate() -> int:
    """The engine's output rate in Hz (22050 for espeak-ng)."""
    return _engine().sample_rate


def synthesise_word(word: str, voice: str = "en", words_per_minute: int = 175, pitch: int = 50) -> np.ndarray:
    """Speak one word; float32 samples at `speech_sample_rate()`, silence trimmed from both ends.

    `voice` is an espeak-ng voice, with a variant after "+" (e.g. "en+m3",
    "en+f2"): the demo gives each speaker its own.
    """
    samples = _engine().speak(word, voice, words_per_minute, pitch)
    loud = np.flatnonzero(np.abs(samples) >= SILENCE_LEVEL)
    if loud.size == 0:
        raise ValueError(f"espeak-ng produced no sound for {word!r}")
    return samples[loud[0] : loud[-1] + 1]


class _Espeak:
    """The loaded engine: one per process (see `_engine`)."""

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
        self._lock = threading.Lock()

    def speak(self, text: str, voice: str, words_per_minute: int, pitch: int) -> np.ndarray:
        with self._lock:
            if self.library.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self.library.espeak_SetParameter(ESPEAK_RATE, int(words_per_minute), 0)
            self.library.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
            self._chunks = []
            encoded = text.encode()
            status = self.library.espeak_Synth(encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_AUTO,
                                               None, None)  # fmt: skip
            if status != EE_OK:
                raise RuntimeError(f"espeak-ng failed to speak {text!r} (status {status})")
            chunks, self._chunks = self._chunks, []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return samples.astype(np.float32) / 32768.0

    def _collect(self, wav, sample_count: int, events) -> int:
        if wav and sample_count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(sample_count,)).copy())
        return 0  # 0: go on synthesising


@cache
def _engine() -> _Espeak:
    return _Espeak()
