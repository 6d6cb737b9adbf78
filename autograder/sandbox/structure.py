"""Turn results into plain arrays and back.

A function's results (tuples, lists, dicts of arrays, numbers) are flattened
into a dict keyed by a path such as ``out[2][0][3]['Wax']``: numeric arrays
at the leaves, and a type marker (a str) under ``path + "#"`` for every node.
On disk (``save``/``load``) the markers become unicode arrays, so the dict can
cross through ``np.savez`` / ``np.load(allow_pickle=False)`` without carrying
any object that could run code (the case payloads go this way).

The results of a child cross back with ``dumps``/``loads`` instead: one JSON
header (markers, and dtype, shape and offset of every array) followed by the
raw bytes of the arrays.  It is as inert as npz (numbers and text only, no
pickle) and much faster to read for results of a thousand small arrays.
"""
import json
import math
import struct

import numpy as np

MAX_DEPTH = 8
MAX_ELEMENTS = 5_000_000  # per flatten() call: bigger results are refused


class TooLarge(Exception):
    pass


_SCALARS = (bool, int, float, np.float64, np.float32, np.int64, np.int32, np.bool_)


def flatten(obj, path="out", copy=True, prefix=""):
    """Flatten obj into {path: array}.  Never calls methods of unknown types.

    copy -- False: the leaves are obj's own arrays, not copies (for a comparison or a
            serialisation made at once, before any other code can change them)
    prefix -- put before every key (TooLarge names the path without it): flatten(obj,
              "out", prefix="c0/oracle/") is {"c0/oracle/" + k: v for k, v in flatten(obj)}"""
    out = {}
    budget = [MAX_ELEMENTS, len(prefix)]  # numbers left; where a path's name starts
    _flatten(obj, prefix + path, out, 0, budget, copy)
    return out


def _flatten(obj, path, out, depth, budget, copy=True):
    kind = type(obj)  # type() cannot be faked by the object, unlike __class__
    if depth > MAX_DEPTH:
        out[path + "#"] = "too deeply nested"
    elif kind is tuple or kind is list:  # (the same branch as `kind in (tuple, list)` below)
        out[path + "#"] = f"{kind.__name__}:{len(obj)}"
        items = tuple.__iter__(obj) if kind is tuple else list.__iter__(obj)
        index = _INDEX
        _children([path + index[i] if i < _INDEXED else f"{path}[{i}]" for i in range(len(obj))],
                  items, out, depth + 1, budget, copy)
    elif kind is np.ndarray:
        if obj.dtype.kind in "biuf":
            budget[0] -= obj.size
            if budget[0] < 0:
                raise TooLarge(f"{path[budget[1]:]} makes the results larger than {MAX_ELEMENTS} numbers")
            out[path + "#"] = "ndarray"
            out[path] = obj.copy() if copy else obj  # copy() is in C order
        else:
            out[path + "#"] = f"ndarray of dtype {obj.dtype.name}"
    elif kind in (tuple, list):
        out[path + "#"] = f"{kind.__name__}:{len(obj)}"
        for i, item in enumerate(tuple.__iter__(obj) if kind is tuple else list.__iter__(obj)):
            _flatten(item, f"{path}[{i}]", out, depth + 1, budget, copy)
    elif kind is dict:
        keys = list(dict.keys(obj))
        for key in keys:
            if type(key) is not str:
                out[path + "#"] = "dict with keys that are not strings"
                return
        keys.sort()
        out[path + "#"] = _dict_marker(keys)
        suffixes = _KEY_PATHS
        if len(suffixes) > 4096:
            suffixes.clear()
        paths = []
        for key in keys:
            suffix = suffixes.get(key)
            if suffix is None:
                suffix = suffixes[key] = f"[{key!r}]"
            paths.append(path + suffix)
        _children(paths, map(dict.__getitem__, (obj,) * len(keys), keys), out, depth + 1, budget,
                  copy)
    elif kind in _SCALARS:
        out[path + "#"] = "scalar"
        out[path] = np.array(float(obj))
    else:
        out[path + "#"] = f"object of type {kind.__name__}"


_FLOAT64 = np.dtype(np.float64)  # the dtype object of (almost) every array: of kind "f"
_INDEXED = 256
_INDEX = tuple(f"[{i}]" for i in range(_INDEXED))  # the path of item i of a tuple or list
_KEY_PATHS = {}  # str key -> its path "['key']" in a dict (the same few keys every call)


def _children(paths, items, out, depth, budget, copy):
    """_flatten(item, path, out, depth, ...) of each item of a container, in turn, with the
    commonest item, a numeric array, flattened here rather than by a call of its own."""
    ndarray, float64 = np.ndarray, _FLOAT64
    arrays = depth <= MAX_DEPTH  # else each item is "too deeply nested"
    for path, item in zip(paths, items):
        if type(item) is ndarray and arrays and (item.dtype is float64 or item.dtype.kind in "biuf"):
            budget[0] -= item.size
            if budget[0] < 0:
                raise TooLarge(f"{path[budget[1]:]} makes the results larger than {MAX_ELEMENTS} numbers")
            out[path + "#"] = "ndarray"
            out[path] = item.copy() if copy else item
        else:
            _flatten(item, path, out, depth, budget, copy)


def values(flat):
    """The values of a flattened object, in order, each array as (dtype, shape, bytes): what
    unchanged() compares an object with."""
    return [v if type(v) is str else (v.dtype, v.shape, v.tobytes()) for v in flat.values()]


class _Differs(Exception):
    pass


_NONE = type(None)


def unchanged(obj, expected):
    """Is flatten(obj) sure to hold the markers of `expected` (values(an earlier flatten()))
    and arrays of the same dtype, shape and bytes, in the same order?

    For the check that a function left its inputs alone: obj is walked as flatten() walks it,
    with no path or dict made, and compared as it goes.  Only the plain case is answered
    True: exact tuples, lists, dicts with str keys, numeric arrays, scalars and None, within
    MAX_DEPTH, the very bits of `expected`.  Then the flattening of obj is `expected` itself
    (the markers in order fix every path) and no bigger (no TooLarge).  Anything else,
    including an object of another type (whose metaclass is never asked anything here), is
    answered False, "not sure": flatten obj and compare the flattenings."""
    try:
        return _walk(obj, expected, 0, 0) == len(expected)
    except (_Differs, IndexError):
        return False


def _walk(obj, expected, at, depth):
    """unchanged() from expected[at] on; the position after obj."""
    kind = type(obj)
    if depth > MAX_DEPTH:
        raise _Differs
    if kind is np.ndarray:
        return _walk_items((obj,), expected, at, depth)
    if kind is tuple or kind is list:
        if expected[at] != f"{kind.__name__}:{len(obj)}":
            raise _Differs
        return _walk_items(tuple.__iter__(obj) if kind is tuple else list.__iter__(obj),
                           expected, at + 1, depth + 1)
    if kind is dict:
        keys = list(dict.keys(obj))
        for key in keys:
            if type(key) is not str:
                raise _Differs
        keys.sort()
        if expected[at] != _dict_marker(keys):
            raise _Differs
        return _walk_items(map(dict.__getitem__, (obj,) * len(keys), keys), expected, at + 1,
                           depth + 1)
    if kind is _NONE:
        if expected[at] != "object of type NoneType":
            raise _Differs
        return at + 1
    for scalar in _SCALARS:
        if kind is scalar:
            value = np.array(float(obj))
            if expected[at] != "scalar" or expected[at + 1] != (value.dtype, value.shape, value.tobytes()):
                raise _Differs
            return at + 2
    raise _Differs


def _walk_items(items, expected, at, depth):
    """_walk of each item in turn, from expected[at] on, with a numeric array (the commonest
    item) compared here rather than by a call of its own; the position after them."""
    ndarray, float64 = np.ndarray, _FLOAT64
    for item in items:
        if type(item) is ndarray and depth <= MAX_DEPTH:
            dtype = item.dtype
            if expected[at] != "ndarray" or (dtype is not float64 and dtype.kind not in "biuf"):
                raise _Differs
            want_dtype, want_shape, want_bytes = expected[at + 1]
            if item.shape != want_shape or not (dtype is want_dtype or dtype == want_dtype) or \
                    item.tobytes() != want_bytes:
                raise _Differs
            at += 2
        else:
            at = _walk(item, expected, at, depth)
    return at


_DICT_MARKERS = {}  # tuple of sorted keys -> "dict:" marker (the same few dicts every call)


def _dict_marker(keys):
    """The marker of a dict whose sorted keys (all str) are `keys`."""
    key = tuple(keys)
    marker = _DICT_MARKERS.get(key)
    if marker is None:
        if len(_DICT_MARKERS) > 1024:
            _DICT_MARKERS.clear()
        marker = _DICT_MARKERS[key] = "dict:" + json.dumps(keys)
    return marker


def unflatten(flat, path="out"):
    """Rebuild the object that flatten() described (only the supported types)."""
    marker = str(flat[path + "#"])
    if marker == "ndarray":
        return np.array(flat[path])
    if marker == "scalar":
        return float(flat[path])
    if marker.startswith(("tuple:", "list:")):
        kind, n = marker.split(":")
        items = [unflatten(flat, f"{path}[{i}]") for i in range(int(n))]
        return tuple(items) if kind == "tuple" else items
    if marker.startswith("dict:"):
        return {k: unflatten(flat, f"{path}[{k!r}]") for k in json.loads(marker[5:])}
    raise ValueError(f"cannot rebuild {path}: {marker}")


def save(path, flat):
    """Write a flat dict to an npz file (markers as unicode arrays)."""
    np.savez(path, **{k: np.array(v) if isinstance(v, str) else v for k, v in flat.items()})


def from_npz(npz):
    """A flat dict from an open npz file: 0-d unicode arrays become str again."""
    out = {}
    for key in npz.files:
        value = npz[key]
        out[key] = str(value) if value.dtype.kind == "U" and value.ndim == 0 else value
    return out


def load(path, max_bytes=None):
    import os
    if max_bytes is not None and os.path.getsize(path) > max_bytes:
        raise TooLarge(f"{os.path.basename(path)} is larger than {max_bytes} bytes")
    with np.load(path, allow_pickle=False) as data:
        return from_npz(data)


MAGIC = b"RNNOBS1\n"
_DTYPES = {"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"}
_DTYPE_OF = {name: np.dtype(name) for name in _DTYPES}

# What loads() accepts from a child, whatever it sends.  The results of one run of the
# biggest function (lstm_forward, five cases) hold about 1,500 entries in a 150 KB
# header, with keys of at most 25 characters and markers of at most 100: the limits
# leave ten times that room, and keep what the parent builds from one file small
# (header parsed only once its size is known; no entry is made past MAX_ENTRIES).
MAX_HEADER_BYTES = 2 * 2**20   # the JSON header (markers, array descriptions)
MAX_ENTRIES = 20_000           # markers + arrays in one results file
MAX_KEY_CHARS = 256            # one key (a path such as c3/own/out[1][0]['Wax'])
MAX_TEXT_CHARS = 4096          # one marker or error text
MAX_NDIM = 8                   # dimensions of one array
MAX_DIM = 2**31                # length of one dimension


_encode_strings = json.JSONEncoder(check_circular=False).encode  # a dict of str: str, in C
_json_str = json.encoder.encode_basestring_ascii  # the JSON text of one str, as json.dumps writes it
# The dtypes dumps() stores, by the identity of numpy's own dtype objects (every float64 array
# has the one float64 dtype object, which _DTYPE_OF keeps alive, so that no other object can
# take its id): their names as JSON text, without building dtype.str for every array.
_DTYPE_JSON = {id(dtype): json.dumps(name) for name, dtype in _DTYPE_OF.items()}
_DTYPE_NAME_JSON = {name: json.dumps(name) for name in _DTYPES}  # of any other dtype object
_SHAPE_JSON = {}  # shape -> its JSON text (results have a few dozen shapes)


def dumps(flat):
    """bytes of a flat dict of str markers and numeric arrays (see loads).

    The header is the text json.dumps writes for {"strings": {key: marker}, "arrays": [[key,
    dtype, shape, offset, nbytes]]}, put together here: the list of arrays, one small list
    per array, is what json's encoder is slowest at.  Anything but the plain case (a key or
    a marker that is not exactly a str) is left to json itself (_dumps_plain), and
    tests/test_fast_paths.py checks that both write the same bytes."""
    strings, arrays, blobs, offset = {}, [], [], 0
    dtypes, shapes, ndarray, json_str = _DTYPE_JSON, _SHAPE_JSON, np.ndarray, _json_str
    float64, float64_json = _FLOAT64, _DTYPE_JSON.get(id(_FLOAT64))
    array, blob = arrays.append, blobs.append
    for key, value in flat.items():
        if type(key) is not str:
            return _dumps_plain(flat)
        kind = type(value)
        if kind is str:
            strings[key] = value
            continue
        if kind is not ndarray:
            if isinstance(value, str):
                return _dumps_plain(flat)
            value = np.asarray(value)
        dtype = value.dtype
        dtype_json = float64_json if dtype is float64 else dtypes.get(id(dtype))
        if dtype_json is None:  # another dtype object (an unpickled array's): by its name
            dtype_json = _DTYPE_NAME_JSON.get(dtype.str)
            if dtype_json is None:
                raise TypeError(f"{key}: cannot store an array of dtype {dtype}")
        shape = value.shape
        shape_json = shapes.get(shape)
        if shape_json is None:
            if len(shapes) > 1024:
                shapes.clear()
            shape_json = shapes[shape] = str(list(shape))  # a list of ints: as JSON writes it
        nbytes = value.nbytes
        array(f"[{json_str(key)}, {dtype_json}, {shape_json}, {offset}, {nbytes}]")
        blob(value)
        offset += nbytes
    header = ('{"strings": ' + _encode_strings(strings) + ', "arrays": [' + ", ".join(arrays)
              + "]}").encode()
    try:
        # A C-contiguous array is its own bytes in C order: joined without a copy each
        body = b"".join(blobs)
    except TypeError:  # one is not C-contiguous (a view sent to the oracle): tobytes() is
        body = b"".join([value.tobytes() for value in blobs])
    return MAGIC + struct.pack("<Q", len(header)) + header + body


def _dumps_plain(flat):
    """dumps(), written with json.dumps for the whole header."""
    strings, arrays, blobs, offset = {}, [], [], 0
    for key, value in flat.items():
        if isinstance(value, str):
            strings[key] = value
            continue
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        dtype = value.dtype.str
        if dtype not in _DTYPES:
            raise TypeError(f"{key}: cannot store an array of dtype {value.dtype}")
        data = value.tobytes()  # in C order, whatever the array's own order
        arrays.append([key, dtype, list(value.shape), offset, len(data)])
        blobs.append(data)
        offset += len(data)
    header = json.dumps({"strings": strings, "arrays": arrays}).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + b"".join(blobs)


def loads(data):
    """The flat dict that dumps() wrote.  The bytes come from a child that ran student
    code: anything malformed raises ValueError, anything past the limits above raises
    TooLarge (before the parent builds it), and nothing else is ever raised."""
    try:
        return _loads(data)
    except (ValueError, TooLarge):
        raise
    except (RecursionError, MemoryError, TypeError, KeyError, OverflowError, struct.error):
        raise ValueError("the results file is malformed") from None


def _loads(data):
    start = len(MAGIC) + 8
    if len(data) < start or data[:len(MAGIC)] != MAGIC:
        raise ValueError("not a results file")
    (size,) = struct.unpack("<Q", data[len(MAGIC):start])
    if size > MAX_HEADER_BYTES:
        raise TooLarge(f"its header is {size} bytes, more than the {MAX_HEADER_BYTES} allowed")
    if start + size > len(data):
        raise ValueError("the results file is cut short")
    try:
        header = json.loads(bytes(data[start:start + size]))
        strings, arrays = header["strings"], header["arrays"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ValueError("the header of the results file is malformed") from None
    if not isinstance(strings, dict) or not isinstance(arrays, list):
        raise ValueError("the header of the results file is malformed")
    if len(strings) + len(arrays) > MAX_ENTRIES:
        raise TooLarge(f"it holds {len(strings) + len(arrays)} entries, more than the "
                       f"{MAX_ENTRIES} allowed")
    for key, value in strings.items():
        if not isinstance(value, str):
            raise ValueError("the header of the results file is malformed")
        if len(key) > MAX_KEY_CHARS or len(value) > MAX_TEXT_CHARS:
            raise TooLarge(f"a key or text is longer than {max(MAX_KEY_CHARS, MAX_TEXT_CHARS)} characters")
    body = memoryview(data)[start + size:]
    out = dict(strings)
    for entry in arrays:
        if not isinstance(entry, list) or len(entry) != 5:
            raise ValueError("an array entry of the results file is malformed")
        key, dtype, shape, offset, nbytes = entry
        dtype = _DTYPE_OF.get(dtype) if type(dtype) is str else None
        ok = type(key) is str and len(key) <= MAX_KEY_CHARS and key not in out and \
            dtype is not None and type(shape) is list and len(shape) <= MAX_NDIM and \
            type(offset) is int and type(nbytes) is int and 0 <= offset <= offset + nbytes <= len(body)
        if ok:
            for n in shape:
                if type(n) is not int or not 0 <= n <= MAX_DIM:
                    ok = False
                    break
            ok = ok and math.prod(shape) * dtype.itemsize == nbytes
        if not ok:
            raise ValueError("an array entry of the results file is malformed")
        out[key] = np.frombuffer(body[offset:offset + nbytes], dtype=dtype).reshape(shape)
    return out


def copy(obj):
    """A copy of nested tuples, lists and dicts of arrays (much faster than deepcopy)."""
    kind = type(obj)
    if kind is np.ndarray:
        return obj.copy()
    if kind is tuple:
        return tuple([x.copy() if type(x) is np.ndarray else copy(x) for x in obj])
    if kind is list:
        return [x.copy() if type(x) is np.ndarray else copy(x) for x in obj]
    if kind is dict:
        return {k: v.copy() if type(v) is np.ndarray else copy(v) for k, v in obj.items()}
    return obj
