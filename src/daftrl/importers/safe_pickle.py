"""Read numpy arrays out of a pickle without running anything it names.

A pickle is a small program: its GLOBAL opcodes name callables (`module.name`) that the unpickler imports and calls.
`load` overrides the one place where that happens (`find_class`, Python's documented way to restrict globals): the
numpy functions that rebuild arrays and dtypes are replaced by checked equivalents taken from the numpy already
imported here, a few plain containers by the builtin ones, and every other name by an `Inert` stand-in - a class
made here that records the name, the arguments it is called with and the state it is given, and does nothing else.
No module named in the file is imported and no function from it runs, so a foreign or malicious file yields inert
records at worst; the caller then finds no arrays where it expects them and refuses the file.

Used for what SB3/SBX keep in pickles: a saved replay buffer (`save_replay_buffer`), VecNormalize statistics, and
the cloudpickled policy of an SBX save (docs/adaptation.md, "Bring your own expert").
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2 keeps these in numpy._core; files written by numpy 1 name numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


class UnsafePickle(ValueError):
    """A pickle asked for something `load` does not build (an object array, a foreign array subclass)."""


class Inert:
    """Stand-in for a class or function a pickle names: calling it, or giving it state or items, only records them.

    `pickle_name` is the `module.name` the file gave; `args`/`kwargs` what it was called with; `state` what BUILD
    gave it (normally the attribute dict of the object the file describes); `items` / `mapping` what APPEND(S),
    SETITEM(S) or ADDITEMS added."""

    pickle_name = ""

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.args, self.kwargs, self.state, self.items, self.mapping = args, kwargs, None, [], {}
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs) -> Inert:
        return _stand_in(self.pickle_name, "<call>")(self, *args, **kwargs)

    def __setstate__(self, state) -> None:
        self.state = state

    def append(self, item) -> None:
        self.items.append(item)

    def extend(self, items) -> None:
        self.items.extend(items)

    def add(self, item) -> None:
        self.items.append(item)

    def __setitem__(self, key, value) -> None:
        self.mapping[key] = value

    def __repr__(self) -> str:
        return f"<inert {self.pickle_name}>"


_STAND_INS: dict[str, type[Inert]] = {}


def _stand_in(module: str, name: str) -> type[Inert]:
    full = f"{module}.{name}"
    if full not in _STAND_INS:
        _STAND_INS[full] = type(name.replace(".", "_") or "Inert", (Inert,), {"pickle_name": full})
    return _STAND_INS[full]


def _plain_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise UnsafePickle(f"the pickle holds an array of Python objects (dtype {dtype}); only numeric arrays are read")
    return dtype


class _Array(np.ndarray):
    """An ndarray whose BUILD (`__setstate__`) refuses object dtypes; `np.asarray` turns it into a plain array."""

    def __setstate__(self, state):
        if any(isinstance(part, np.dtype) and part.hasobject for part in state):
            raise UnsafePickle("the pickle holds an array of Python objects; only numeric arrays are read")
        super().__setstate__(state)


def numpy_reconstruct(subtype, shape, typecode):
    """numpy's `_reconstruct` for a plain ndarray only (BUILD then fills it through `_Array.__setstate__`). The file's
    `numpy.ndarray` is an inert stand-in like any other name: it is only recognised here, never called."""
    if getattr(subtype, "pickle_name", "") != "numpy.ndarray":
        raise UnsafePickle(f"the pickle asks for an array of type {subtype!r}; only plain numpy arrays are read")
    return _multiarray._reconstruct(_Array, shape, typecode)


def _frombuffer(buffer, dtype, shape, order):
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)):
        raise UnsafePickle(f"an array built from a {type(buffer).__name__}, not from bytes")
    return _numeric._frombuffer(buffer, _plain_dtype(dtype), shape, order).view(_Array)


def _scalar(dtype, data=None):
    dtype = _plain_dtype(dtype)
    if not isinstance(data, bytes):
        raise UnsafePickle(f"a numpy {dtype} scalar without its bytes")
    return _multiarray.scalar(dtype, data)


def _dtype(spec, align=False, copy=False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickle(f"a numpy dtype given as {type(spec).__name__}")
    return np.dtype(spec, align=bool(align), copy=bool(copy))


def _latin1(text, encoding="latin1") -> bytes:
    """`_codecs.encode`, as protocol-2 pickles of numpy arrays use it: a latin-1 string to its bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("the pickle calls _codecs.encode with something other than a latin-1 string")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): numpy_reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
    ("collections", "OrderedDict"): dict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
}
"""The names a pickle may use for real: (module, name) -> what this module builds for it."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102 - pickle's hook
        return _ALLOWED.get((module, name)) or _stand_in(module, name)

    def persistent_load(self, pid):
        raise UnsafePickle("the pickle refers to external objects (persistent ids); it is not a plain data pickle")


def load(data: bytes | io.BufferedIOBase, what: str) -> Any:
    """Unpickle `data` (bytes or a binary file) with every name it uses replaced as the module docstring says.

    Raises ValueError naming `what` if the bytes are not a pickle this reads."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _Unpickler(stream).load()
    except UnsafePickle as e:
        raise ValueError(f"{what}: {e}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError,
            MemoryError) as e:
        raise ValueError(f"{what} is not a pickle daftrl can read ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------- reading what was loaded
def attributes(obj: Any) -> dict:
    """The attribute dict of an object the pickle described (its BUILD state, with a slot-state dict merged);
    {} for anything else."""
    if not isinstance(obj, Inert):
        return {}
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
        return {**(state[0] or {}), **(state[1] or {})}
    return state if isinstance(state, dict) else {}


def class_name(obj: Any) -> str:
    """`module.name` of the class an inert object stands for ('' for other values). Objects pickled through
    `copyreg._reconstructor(cls, base, state)` name their class in its first argument."""
    if not isinstance(obj, Inert):
        return ""
    if obj.pickle_name == "copyreg._reconstructor" and obj.args and isinstance(obj.args[0], type):
        return getattr(obj.args[0], "pickle_name", "")
    return obj.pickle_name
