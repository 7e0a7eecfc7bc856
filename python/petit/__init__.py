"""petit: Python bindings for the petit translation engine (ctypes over libpetit.so).

    import petit
    t = petit.Translator("models/en-fr.gguf")
    t.translate(["A man is riding a bike.", "Two dogs play."], beam=4)
    # ['Un homme fait du vélo.', 'Deux chiens jouent.']

The shared library is found at $PETIT_LIB, else beside this package, else in
the build folder of the checkout it sits in (../build/libpetit.so or
../libpetit.so from python/), else wherever the dynamic loader finds
libpetit.so. No compiled extension: `make` builds libpetit.so, and
`pip install ./python` installs this file.

A Translator holds one loaded model (memory-mapped, read-only) and one
C translator per beam size it was asked for; it is not thread-safe (use one
per thread: Translator(path) objects on the same file share nothing but the
page cache). Errors from the library raise petit.Error.
"""
import ctypes
import os
import threading

__all__ = ["Translator", "Error", "library_path"]


class Error(RuntimeError):
    """An error reported by libpetit (petit_last_error)."""


class _Options(ctypes.Structure):  # petit_options, include/petit.h
    _fields_ = [
        ("beam", ctypes.c_int),
        ("nbest", ctypes.c_int),
        ("length_penalty", ctypes.c_float),
        ("max_len_a", ctypes.c_float),
        ("max_len_b", ctypes.c_float),
        ("threads", ctypes.c_int),
        ("float_cache", ctypes.c_int),
        ("allow_unk", ctypes.c_int),
        ("shortlist", ctypes.c_int),
    ]


def _candidates():
    env = os.environ.get("PETIT_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    up = os.path.dirname(os.path.dirname(here))  # the checkout, for python/petit/
    return [os.path.join(here, "libpetit.so"), os.path.join(up, "build", "libpetit.so"),
            os.path.join(up, "libpetit.so"), "libpetit.so"]


_lib = None
_lib_path = None
_lock = threading.Lock()


def _load():
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            if os.sep in path and not os.path.exists(path):
                tried.append(path + " (missing)")
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s)" % (path, e))
                continue
            _declare(lib)
            _lib, _lib_path = lib, path
            return lib
        raise Error("libpetit.so not found (build it with `make`, or set PETIT_LIB); tried: " + "; ".join(tried))


def _declare(lib):
    c_p = ctypes.c_void_p
    lib.petit_last_error.restype = ctypes.c_char_p
    lib.petit_last_error.argtypes = []
    lib.petit_model_load.restype = c_p
    lib.petit_model_load.argtypes = [ctypes.c_char_p]
    lib.petit_model_free.restype = None
    lib.petit_model_free.argtypes = [c_p]
    lib.petit_model_max_len.restype = ctypes.c_int
    lib.petit_model_max_len.argtypes = [c_p]
    lib.petit_options_default.restype = None
    lib.petit_options_default.argtypes = [ctypes.POINTER(_Options)]
    lib.petit_translator_new.restype = c_p
    lib.petit_translator_new.argtypes = [c_p, ctypes.POINTER(_Options)]
    lib.petit_translator_free.restype = None
    lib.petit_translator_free.argtypes = [c_p]
    lib.petit_translate.restype = ctypes.c_int
    lib.petit_translate.argtypes = [c_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.POINTER(c_p)]
    lib.petit_truncated_tokens.restype = ctypes.c_long
    lib.petit_truncated_tokens.argtypes = [c_p]
    lib.petit_free.restype = None
    lib.petit_free.argtypes = [c_p]


def library_path():
    """The path of the libpetit.so in use (loading it if need be)."""
    _load()
    return _lib_path


def _error():
    msg = _lib.petit_last_error()
    return Error(msg.decode("utf-8", "replace") if msg else "unknown error")


class Translator:
    """A model loaded once; translate() with any beam size.

    Translator(model, beam=4, threads=0, length_penalty=1.0, allow_unk=False, shortlist=True)
    threads=0: all cores (see petit_options in include/petit.h). shortlist=False:
    decode over the whole vocabulary even if the model has a lexical shortlist.
    """

    def __init__(self, model, beam=4, threads=0, length_penalty=1.0, allow_unk=False, shortlist=True):
        lib = _load()
        self._lib = lib
        self._model = None
        self._translators = {}
        self.path = os.fspath(model)
        m = lib.petit_model_load(os.fsencode(self.path))
        if not m:
            raise _error()
        self._model = m
        self.beam = int(beam)
        self._threads = int(threads)
        self._length_penalty = float(length_penalty)
        self._allow_unk = bool(allow_unk)
        self._shortlist = bool(shortlist)
        self.max_len = lib.petit_model_max_len(m)
        self.truncated_tokens = 0

    def _translator(self, beam):
        t = self._translators.get(beam)
        if t is None:
            o = _Options()
            self._lib.petit_options_default(ctypes.byref(o))
            o.beam = beam
            o.threads = self._threads
            o.length_penalty = self._length_penalty
            o.allow_unk = int(self._allow_unk)
            o.shortlist = int(self._shortlist)
            t = self._lib.petit_translator_new(self._model, ctypes.byref(o))
            if not t:
                raise _error()
            self._translators[beam] = t
        return t

    def translate(self, sentences, beam=None):
        """Translate a list of sentences (str); a str alone gives a str.

        Sentences longer than the model's maximum length are cut (the
        number of tokens cut is in self.truncated_tokens after the call).
        """
        if self._model is None:
            raise Error("translator is closed")
        single = isinstance(sentences, str)
        items = [sentences] if single else list(sentences)
        for s in items:
            if not isinstance(s, str):
                raise TypeError("sentences must be str, not %s" % type(s).__name__)
        beam = self.beam if beam is None else int(beam)
        if beam < 1:
            raise ValueError("beam must be >= 1")
        t = self._translator(beam)
        n = len(items)
        if n == 0:
            return []
        src = (ctypes.c_char_p * n)(*[s.encode("utf-8", "surrogatepass") for s in items])
        out = (ctypes.c_void_p * n)()
        if self._lib.petit_translate(t, src, n, out) != 0:
            raise _error()
        self.truncated_tokens = self._lib.petit_truncated_tokens(t)
        res = []
        for p in out:
            res.append(ctypes.string_at(p).decode("utf-8", "replace"))
            self._lib.petit_free(p)
        return res[0] if single else res

    def close(self):
        """Free the model and its translators (also done when collected)."""
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        for t in self._translators.values():
            lib.petit_translator_free(t)
        self._translators = {}
        if self._model:
            lib.petit_model_free(self._model)
        self._model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "petit.Translator(%r, beam=%d)" % (self.path, self.beam)
