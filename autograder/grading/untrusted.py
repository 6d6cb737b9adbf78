"""Make what students control harmless where the parent stores it or shows it.

Student folder names, notebook metadata, exception texts and whatever a child
sends back reach the parent as str (folder names that are not UTF-8 come as
lone surrogates, see os.fsdecode).  Every function here is total: it returns a
value for any input and never raises.

    json_text(value, limit)   text that encodes to UTF-8 and JSON (lone
                              surrogates written out as \\udcff), at most `limit`
                              characters: for messages kept in results.json
    shown(value, limit)       text safe on a terminal and in a spreadsheet
                              cell: control, format (bidi overrides), surrogate
                              and line-separator characters written out as
                              \\x1b / \\u202e escapes
    csv_field(value)          shown() that a spreadsheet cannot read as a formula
    gradebook_id(student)     a valid nbgrader student id for any folder name
    remove_tree(path)         delete a folder tree of any depth, never raising
    clear_folder(path)        the same for what a folder holds, keeping the folder
"""
import functools
import hashlib
import os
import re
import stat
import sys
import unicodedata

# Unicode categories that are never printed as themselves: controls (C0, C1, ESC),
# format characters (bidi embeddings, overrides and isolates, zero-width marks),
# surrogates, private use, and the line and paragraph separators.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
FORMULA_STARTS = "=+-@"  # a spreadsheet reads a cell starting with one of these as a formula
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
GRADEBOOK_ID_MAX = 100   # nbgrader keeps student ids in a String(128) column


def _str(value):
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 -- a value whose str() fails is shown by its type
        return f"<{type(value).__name__}>"


def _cut(text, limit):
    if limit is not None and len(text) > limit:
        return text[:limit] + f"... [{len(text) - limit} more characters cut]"
    return text


def _is_surrogate(ch):
    return "\ud800" <= ch <= "\udfff"


def json_text(value, limit=None):
    """`value` as text that always encodes to UTF-8 (lone surrogates become the six
    characters \\udcff), cut to `limit` characters."""
    text = _cut(_str(value), limit)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # fails only on a lone surrogate
        return text
    except UnicodeEncodeError:
        return "".join(f"\\u{ord(ch):04x}" if _is_surrogate(ch) else ch for ch in text)


def _escape(ch):
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value, limit=None, lines=False):
    """`value` as one line a terminal or a spreadsheet shows as it is: every control,
    format, surrogate or separator character is written out as an escape (\\x1b, \\u202e,
    \\udcff; a newline as \\x0a), so none can move the cursor, recolour the screen or
    reverse the text that follows.  lines=True keeps the newlines (a log's traceback)."""
    text = _cut(_str(value), limit)
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in HIDDEN_CATEGORIES and
                   not (lines and ch == "\n") else ch for ch in text)


def csv_field(value):
    """shown(value), with a quote in front when a spreadsheet would read it as a formula
    (=, +, -, @, also after leading spaces).  Tab and CR at the start are already
    escaped by shown()."""
    text = shown(value)
    if _NUMBER.fullmatch(text):  # a plain number (a score of -1) is no formula
        return text
    if text.lstrip(" ")[:1] in tuple(FORMULA_STARTS):
        return "'" + text
    return text


def digest(value, size=10):
    """A short hex digest of any str (surrogates included)."""
    data = _str(value).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:size]


def gradebook_id(student):
    """The id under which a student is stored in the nbgrader gradebook.

    A plain id is kept as it is.  An id that is not valid UTF-8, holds control or
    format characters, starts like a spreadsheet formula (nbgrader export writes ids
    as they are) or is too long is written out with escapes, cut, and given a digest
    of the original so that two folders never share a gradebook student."""
    text = _str(student)
    safe = shown(text).replace("\\", "_")
    if safe == text and 0 < len(text) <= GRADEBOOK_ID_MAX and text.strip() == text and \
            text[0] not in FORMULA_STARTS:
        return text
    safe = safe.strip().lstrip(FORMULA_STARTS)[:GRADEBOOK_ID_MAX - 11]
    return (safe + "-" if safe else "") + digest(text)


# ---------------------------------------------------------------------------
# remove_tree
# ---------------------------------------------------------------------------

_DEPTH = 32  # folders deeper than this are moved up to the top before they are emptied
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name, dir_fd):
    """An fd of the folder `name` (never through a link); a folder the child made
    unreadable (chmod 0) is given back its owner's rights first."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        path_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=dir_fd)
        try:
            os.chmod(f"/proc/self/fd/{path_fd}", 0o700)  # the folder itself, never a link
        finally:
            os.close(path_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o700)  # to delete what it holds
    except OSError:
        pass
    return fd


def _clear(fd, top_fd, depth, counter):
    """Delete what the folder `fd` holds, up to _DEPTH levels down; deeper folders are
    renamed into the top folder for a later pass.  Returns how many entries it removed
    or moved."""
    done = 0
    try:
        with os.scandir(fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    except OSError:
        return 0
    for name, is_dir in entries:
        try:
            if not is_dir:
                os.unlink(name, dir_fd=fd)
                done += 1
                continue
            if depth >= _DEPTH:
                counter[0] += 1
                os.rename(name, f".removing-{counter[0]}-{os.urandom(4).hex()}",
                          src_dir_fd=fd, dst_dir_fd=top_fd)
                done += 1
                continue
            sub = _open_dir(name, fd)
            try:
                done += _clear(sub, top_fd, depth + 1, counter)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=fd)
            done += 1
        except OSError:
            continue
    return done


def clear_folder(path):
    """Delete everything inside the folder `path` and keep the folder (as remove_tree,
    never raises); True when it is empty."""
    try:
        top = _open_dir(os.fspath(path), None)
    except (OSError, ValueError):
        return False
    try:
        while _clear(top, top, 1, [0]):
            pass
        with os.scandir(top) as it:
            return next(it, None) is None
    except Exception:  # noqa: BLE001 -- never raise
        return False
    finally:
        os.close(top)


def remove_tree(path):
    """Delete the folder `path` and all it holds, whatever a child left in it: any depth
    (a chain of thousands of folders costs no recursion and no path longer than a few
    levels), folders without rights, links (removed, never followed).  Never raises;
    returns True when the folder is gone."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    try:
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(path)
            return True
        top = _open_dir(os.fspath(path), None)
    except OSError:
        return False
    counter = [0]
    try:
        while _clear(top, top, 1, counter):
            pass
    except Exception:  # noqa: BLE001 -- never raise; what is left is reported by False
        pass
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


HOST_PATH = "<host path>"  # what a host path in a student's message is replaced by


@functools.lru_cache(maxsize=1)
def _host_paths():
    """A pattern of the grader's own folders, longest first: the interpreter's prefixes (as
    installed and as built), the kit, the user's home.  Student code in the sandbox sees none
    of them mounted, but an interpreter names its build prefix in sysconfig all the same, and
    a message cut short may end inside one (so the home folder counts on its own too)."""
    import re
    import sysconfig
    from .. import assignment
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(assignment.ROOT), os.path.expanduser("~")}
    for name in ("prefix", "exec_prefix", "base", "installed_base", "LIBDIR", "BINDIR"):
        value = sysconfig.get_config_var(name)
        if isinstance(value, str):
            found.add(value)
    found |= {os.path.realpath(p) for p in list(found)}
    # / and the system's folders say nothing about this machine's layout
    paths = sorted((p for p in found if p.startswith("/") and p not in ("/", "/tmp", "/var/tmp")
                    and not p.startswith(("/usr/", "/opt/python"))), key=len, reverse=True)
    return re.compile("|".join(re.escape(p) + r"(?![\w.-])" for p in paths)) if paths else None


def without_host_paths(text):
    """`text` with every host path of the grader's replaced by HOST_PATH.  Never raises."""
    try:
        pattern = _host_paths()
        return pattern.sub(HOST_PATH, text) if pattern is not None else text
    except Exception:  # noqa: BLE001 -- a text that cannot be searched is left as it is
        return text
