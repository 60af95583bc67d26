"""Transaction files in, forecast files out: the file handling of the command line.

Reading: CSV (``.csv``, ``.tsv``, ``.txt``, optionally compressed: ``.gz``, ``.bz2``,
``.xz``) and Parquet (``.parquet``, ``.pq``). Only the columns a job needs are read.
The customer-id column of a CSV is read as text, so identifiers such as ``00017``
come back exactly as written; when every id is a plain integer (no sign, no leading
zero) the column becomes int64 so that it sorts numerically. The date column is left
as text for :func:`clvmodels.rfm_summary` to parse (with the user's format, and with
its row-counting error messages). CSV is read with pandas' pyarrow engine when pyarrow
is installed (10M rows: about 3.5 s against 10 s, the same values bit for bit); the
separator "whitespace" and installs without pyarrow use the C engine, which then
reads every column, because with ``usecols`` it silently drops surplus fields of a
malformed row (Arrow's parse errors are retried with it, as its messages name the
line).

Writing: the format follows the extension (``.csv``, ``.csv.gz``, ``.parquet``). Every
output is written atomically: to a temporary file in the target's directory, flushed
and fsync-ed, then moved over the target with :func:`os.replace`. A failed or
interrupted job therefore leaves either the previous file or the complete new one,
never a partial file, and removes its temporary file. The same table always gives
the same bytes: CSV floats are written in Python's shortest round-trip form (full
precision, exactly the bytes of ``DataFrame.to_csv``, but built with Arrow kernels:
2M rows x 10 columns in about 2 s instead of about 60 s), gzip headers carry no time
stamp or file name, and Parquet files carry no time stamp.

Every problem with a file raises :class:`DataFileError`, a ``ValueError`` whose
one-line message starts with the file name.
"""

import gzip
import io
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ._progress import ProgressReader

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
PARQUET_SUFFIXES = (".parquet", ".pq")
OUTPUT_SUFFIXES = (".csv", ".csv.gz", ".parquet")
PARQUET_HINT = "pip install 'clvmodels[parquet]'"
WHITESPACE = "whitespace"


class DataFileError(ValueError):
    """A file cannot be read or written as asked; the message names the file."""


def _have_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def file_format(path, *, output=False):
    """``("csv", compression)`` or ``("parquet", None)`` from the file name.

    Raises
    ------
    DataFileError
        For an extension that is neither.
    """
    name = Path(path).name.lower()
    compression = None
    stem = name
    for suffix, method in COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            compression, stem = method, name[: -len(suffix)]
            break
    if output:
        if name.endswith(".csv.gz"):
            return "csv", "gzip"
        if name.endswith(".csv"):
            return "csv", None
        if name.endswith(".parquet"):
            return "parquet", None
        raise DataFileError(
            f"{path}: unknown output format; the file name must end in {', '.join(OUTPUT_SUFFIXES)}"
        )
    if stem.endswith(CSV_SUFFIXES):
        return "csv", compression
    if compression is None and stem.endswith(PARQUET_SUFFIXES):
        return "parquet", None
    raise DataFileError(
        f"{path}: unknown file type; the file name must end in {', '.join(CSV_SUFFIXES)} (optionally "
        f"followed by {', '.join(COMPRESSION_SUFFIXES)}) or {', '.join(PARQUET_SUFFIXES)}"
    )


def _describe_os_error(path, error):
    if isinstance(error, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(error, IsADirectoryError):
        return f"{path}: is a directory, not a file"
    if isinstance(error, PermissionError):
        return f"{path}: permission denied"
    return f"{path}: cannot read ({error.strerror or error})"


SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


def csv_separator(sep):
    """The separator the user means: ``"tab"`` and a typed ``\\t`` are a tab, ``"comma"``,
    ``"semicolon"``, ``"pipe"``, ``"space"`` what they say; None and ``"whitespace"``
    stay as they are; anything else must be one character.

    Raises
    ------
    ValueError
        For an empty or longer separator (pandas would read it as a regular expression).
    """
    if sep is None or sep == WHITESPACE:
        return sep
    sep = SEPARATOR_NAMES.get(str(sep).lower(), sep)
    if len(sep) != 1:
        raise ValueError(
            f"sep {sep!r} is not one character; use a character such as ';' or '|', "
            f"'tab' (or '\\t'), or 'whitespace'"
        )
    if sep in "\r\n\"":
        raise ValueError(f"sep {sep!r} cannot separate fields")
    return sep


def decimal_mark(decimal, sep=None):
    """The decimal mark of numbers (None for '.'); one character, not the separator."""
    if decimal is None or decimal == ".":
        return None
    if len(decimal) != 1 or decimal.isalnum() or decimal in "\r\n\"":
        raise ValueError(f"decimal {decimal!r} is not a decimal mark; use ',' or '.'")
    if decimal == (sep or ","):
        raise ValueError(
            f"decimal {decimal!r} is also the field separator; give the separator with --sep (e.g. --sep ';')"
        )
    return decimal


def _default_sep(path):
    name = Path(path).name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return "\t" if name.endswith(".tsv") else ","


def _csv_options(path, sep, decimal=None):
    """``read_csv`` separator options and the engine to use."""
    sep = csv_separator(sep)
    if sep is None:
        sep = _default_sep(path)
    if sep == WHITESPACE:
        options, engine = {"sep": r"\s+"}, "c"
    else:
        options, engine = {"sep": sep}, "pyarrow" if _have_pyarrow() else "c"
    if decimal_mark(decimal, sep) is not None:
        options["decimal"] = decimal
        engine = "c"  # Arrow's reader has no decimal mark option
    return options, engine


@contextmanager
def _open_csv(path, compression, step=None):
    """A binary handle on the (decompressed) file; reports read progress to ``step``."""
    raw = open(path, "rb")
    try:
        handle = raw
        if step is not None:
            handle = ProgressReader(raw, os.fstat(raw.fileno()).st_size, step)
        if compression is not None:
            import bz2
            import lzma

            opener = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}[compression]
            handle = opener(fileobj=handle, mode="rb") if compression == "gzip" else opener(handle, mode="rb")
        yield handle
    finally:
        raw.close()


_PARSE_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError)


def _parse_error_text(error):
    if isinstance(error, pd.errors.EmptyDataError):
        return "the file is empty"
    if isinstance(error, UnicodeDecodeError):
        return (
            f"not a text CSV file (it is not UTF-8 text: it holds the byte {error.object[error.start:error.start + 1]!r}; "
            "a Latin-1 or Windows export? convert it, e.g. iconv -f latin1 -t utf-8)"
        )
    if isinstance(error, (EOFError, gzip.BadGzipFile)):
        return f"not a valid compressed file ({error})"
    text = " ".join(str(error).split())
    return f"not a valid CSV file ({text})"


def _arrow_errors():
    try:
        import pyarrow

        return (pyarrow.ArrowInvalid, pyarrow.ArrowException)
    except ImportError:
        return ()


def _require_regular_file(path):
    """Refuse a pipe or device before opening it: the file is read twice (header, then
    data), and opening a pipe with no writer would wait for ever."""
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise DataFileError(f"{path}: not a regular file (a pipe or device); save the data to a file first")


def read_columns(path, *, sep=None):
    """The column names of a transaction file (only its header is read)."""
    kind, compression = file_format(path)
    _require_regular_file(path)
    if kind == "parquet":
        pq = _parquet_module(path)
        try:
            return list(pq.read_schema(path).names)
        except OSError as error:
            raise DataFileError(_describe_os_error(path, error)) from None
        except _arrow_errors() as error:
            raise DataFileError(f"{path}: not a valid Parquet file ({' '.join(str(error).split())})") from None
    options, _ = _csv_options(path, sep)
    options.pop("decimal", None)
    try:
        with _open_csv(path, compression) as handle:
            # The header as written (no header=0: pandas would rename a repeated name to "name.1").
            header = pd.read_csv(handle, nrows=1, header=None, dtype=str, keep_default_na=False, engine="c", **options)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise DataFileError(_describe_os_error(path, error)) from None
    except _PARSE_ERRORS as error:
        raise DataFileError(f"{path}: {_parse_error_text(error)}") from None
    columns = [str(c) for c in header.iloc[0]] if len(header) else []
    if columns and columns[0].startswith("\ufeff"):
        columns[0] = columns[0][1:]  # a byte-order mark, as spreadsheet exports write
    if not all(c.replace("\t", "").isprintable() for c in columns):
        raise DataFileError(f"{path}: not a text CSV file (its first line holds binary data)")
    return columns


def check_columns(path, available, needed):
    """Raise one error naming every column of ``needed`` missing from ``available``."""
    repeated = [c for c in dict.fromkeys(needed) if available.count(c) > 1]
    if repeated:
        names = ", ".join(f"{c!r} ({available.count(c)} times)" for c in repeated)
        raise DataFileError(f"{path}: the header names {names} more than once: column names must be unique")
    missing = [c for c in needed if c not in available]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        word = "column" if len(missing) == 1 else "columns"
        hint = ""
        if len(available) == 1:
            hint = _separator_hint(available[0])
        shown = ", ".join(repr(c[:40]) for c in available[:20])
        if len(available) > 20:
            shown += f", ... ({len(available)} columns)"
        raise DataFileError(f"{path}: {word} {names} missing; the file has columns {shown}{hint}")


_SEPARATOR_WORDS = {"\t": ("tab", "tab"), ";": ("semicolon", "';'"), "|": ("pipe", "'|'"), ",": ("comma", "','")}


def _separator_hint(header):
    """Why a header read as one column: the separator it seems to use, and the option to pass."""
    counts = {sep: header.count(sep) for sep in _SEPARATOR_WORDS}
    sep = max(counts, key=counts.get)
    if counts[sep] == 0:
        return ""
    word, option = _SEPARATOR_WORDS[sep]
    return f" (the header holds {word}s: the file looks {word}-separated; pass --sep {option})"


def _parquet_module(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError(f"{path}: reading Parquet files needs pyarrow: {PARQUET_HINT}") from None
    return pq


def read_transactions(path, columns, *, id_col, text_cols=(), sep=None, decimal=None, step=None):
    """Read the ``columns`` of a transaction file.

    Parameters
    ----------
    path : path-like
        CSV (optionally compressed) or Parquet file.
    columns : list of str
        Columns to read; each must exist (checked first, from the header).
    id_col : str
        The customer-id column: read as text from CSV, then made int64 if every id
        is a plain integer.
    text_cols : sequence of str
        Further columns to read as text from CSV (the date column).
    sep : str, optional
        CSV field separator (see :func:`csv_separator`: ``"tab"`` for a tab);
        ``"whitespace"`` for runs of blanks. Default: tab for ``.tsv``, else comma.
    decimal : str, optional
        Decimal mark of the numbers in a CSV, e.g. ``","``; default ``"."``.
    step : clvmodels._progress.Step, optional
        Receives the fraction of the file read.

    Returns
    -------
    pandas.DataFrame
    """
    available = read_columns(path, sep=sep)
    # "a, b, c": fields separated by a comma and a blank; the names and values start after it.
    padded = any(name != name.lstrip(" ") for name in available)
    if padded:
        available = [name.lstrip(" ") for name in available]
    check_columns(path, available, columns)
    kind, compression = file_format(path)
    if kind == "parquet":
        pq = _parquet_module(path)
        try:
            table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
            data = table.to_pandas()
        except OSError as error:
            raise DataFileError(_describe_os_error(path, error)) from None
        except _arrow_errors() as error:
            raise DataFileError(f"{path}: not a valid Parquet file ({' '.join(str(error).split())})") from None
        return data
    options, engine = _csv_options(path, sep, decimal)
    if padded:
        options["skipinitialspace"] = True
        engine = "c"  # Arrow's reader cannot skip them
    dtypes = {c: str for c in (id_col, *text_cols)}
    try:
        data = _read_csv(path, compression, columns, dtypes, options, engine, step)
    except DataFileError:
        if engine != "pyarrow":
            raise
        # Arrow's messages do not say where the problem is; the C parser's name the
        # line (and should it read the file after all, so much the better).
        data = _read_csv(path, compression, columns, dtypes, options, "c", step)
    data[id_col] = integer_ids(trim_text(data[id_col]))
    return data


def trim_text(values):
    """Text with the blanks around each value removed (" 17" is customer "17"); the
    values unchanged (no copy) when none has any."""
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        arrow = _arrow_strings(values)
        if arrow is not None:
            import pyarrow.compute as pc

            if not _padded(arrow):
                return values
            trimmed = pc.utf8_trim_whitespace(arrow)
            return pd.Series(trimmed.to_pandas(), index=values.index, name=values.name).astype(values.dtype)
        try:
            trimmed = values.str.strip()
        except AttributeError:
            return values
        return values if trimmed.equals(values) else trimmed
    return values


def _read_csv(path, compression, columns, dtypes, options, engine, step):
    columns = list(dict.fromkeys(columns))
    # The C parser silently drops surplus fields of a row when given usecols, so it
    # reads every column (and names the line of a malformed row); Arrow's does not.
    usecols = columns if engine == "pyarrow" else None
    try:
        with _open_csv(path, compression, step) as handle:
            data = pd.read_csv(handle, usecols=usecols, dtype=dtypes, engine=engine, **options)
        return data if usecols else data[columns]
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise DataFileError(_describe_os_error(path, error)) from None
    except _PARSE_ERRORS as error:
        raise DataFileError(f"{path}: {_parse_error_text(error)}") from None
    except _arrow_errors() as error:
        raise DataFileError(f"{path}: not a valid CSV file ({' '.join(str(error).split())})") from None
    except ValueError as error:
        raise DataFileError(f"{path}: not a valid CSV file ({' '.join(str(error).split())})") from None


_PLAIN_INTEGER = "0|[1-9][0-9]{0,17}"


def integer_ids(ids):
    """``ids`` as int64 if every one is a plain integer written without sign or leading
    zero (so converting loses nothing), else unchanged."""
    if len(ids) == 0 or ids.isna().any():
        return ids
    arrow = _arrow_strings(ids)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not pc.all(pc.match_substring_regex(arrow, f"^(?:{_PLAIN_INTEGER})$")).as_py():
            return ids
        values = pc.cast(arrow, pa.int64()).to_numpy(zero_copy_only=False)
        return pd.Series(values, index=ids.index, name=ids.name)
    try:
        plain = ids.str.fullmatch(_PLAIN_INTEGER)
    except AttributeError:
        return ids
    if not bool(plain.all()):
        return ids
    return ids.astype(np.int64)


def _padded(array):
    """True if some string of the Arrow ``array`` starts or ends with a blank (space, tab,
    CR): a look at two bytes per string, 10M ids in about 0.1 s, against about 1 s to trim."""
    import pyarrow as pa

    if array.buffers()[2] is None:
        return False
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    starts, stops = offsets[:-1], offsets[1:]
    if not (stops > starts).all():  # empty strings (or missing values) among them
        filled = stops > starts
        starts, stops = starts[filled], stops[filled]
    for edge in (data.take(starts), data.take(stops - 1)):
        if (edge <= 32).any() and np.isin(edge, np.frombuffer(b" \t\r", dtype=np.uint8)).any():
            return True
    return False


def _arrow_strings(values):
    """``values`` (a pandas Series of text) as a pyarrow string array, or None."""
    if not _have_pyarrow():
        return None
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


# ----- JSON files (models) -------------------------------------------------------------------
MAX_JSON_BYTES = 16 * 2**20  # a model file is a few kilobytes


def read_json_file(path, what="model file"):
    """The JSON value in ``path``; every problem is a :class:`DataFileError` naming the file.

    Refused: a missing path, a directory, a device or pipe, an unreadable file, more than
    ``MAX_JSON_BYTES``, binary content (NUL bytes, not UTF-8), invalid JSON, nesting
    too deep to parse, numbers Python cannot read (integers of thousands of digits).
    """
    try:
        if not Path(path).is_file() and Path(path).exists():
            raise DataFileError(f"{path}: not a {what}: it is a directory, device or pipe, not a file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except DataFileError:
        raise
    except OSError as error:
        raise DataFileError(_describe_os_error(path, error)) from None
    if len(data) > MAX_JSON_BYTES:
        raise DataFileError(f"{path}: not a {what}: larger than {MAX_JSON_BYTES // 2**20} MB")
    if b"\x00" in data:
        raise DataFileError(f"{path}: not a {what}: binary content, not JSON text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a {what}: not UTF-8 text (binary content?)") from None
    if not text.strip():
        raise DataFileError(f"{path}: not a {what}: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFileError(f"{path}: not a {what} (not valid JSON: {error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise DataFileError(f"{path}: not a {what} (not valid JSON: nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise DataFileError(f"{path}: not a {what} (not valid JSON: {' '.join(str(error).split())[:120]})") from None


# ----- writing ------------------------------------------------------------------------------
def check_writable(path, *, table=True):
    """Fail early, before any work, if ``path`` cannot be written (``table``: as a
    forecast table, so its extension must name a known format)."""
    if table:
        file_format(path, output=True)
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise DataFileError(f"{path}: cannot write: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataFileError(f"{path}: cannot write: no permission to write in directory {str(parent)!r}")
    if target.is_dir():
        raise DataFileError(f"{path}: cannot write: it is a directory")
    if target.exists() and not Path(os.path.realpath(target)).is_file():
        raise DataFileError(f"{path}: cannot write: it exists and is not a regular file (a device or pipe)")
    if table and file_format(path, output=True)[0] == "parquet" and not _have_pyarrow():
        raise DataFileError(f"{path}: writing Parquet files needs pyarrow: {PARQUET_HINT}")


def same_file(first, second):
    """True if the paths name one file: the same path once links are resolved, or the
    same inode (hard links, bind mounts). Paths that do not exist yet are compared by
    their resolved form only."""
    try:
        if os.path.samefile(first, second):
            return True
    except (OSError, ValueError):
        pass
    return os.path.realpath(first) == os.path.realpath(second)


def check_not_overwriting(outputs, inputs):
    """Refuse outputs that are an input or each other.

    Parameters
    ----------
    outputs, inputs : dict
        Option name (as the user wrote it, e.g. ``"--out"``) to path; None values
        are skipped.

    Raises
    ------
    DataFileError
        Naming both options and the path, before anything is written.
    """
    outputs = [(name, path) for name, path in outputs.items() if path is not None]
    inputs = [(name, path) for name, path in inputs.items() if path is not None]
    for position, (name, path) in enumerate(outputs):
        for other_name, other in inputs:
            if same_file(path, other):
                raise DataFileError(
                    f"{path}: {name} is the same file as the input {other_name} ({other}); "
                    "writing it would destroy the input: choose another output path"
                )
        for other_name, other in outputs[:position]:
            if same_file(path, other):
                raise DataFileError(f"{path}: {name} and {other_name} name the same file; give them different paths")


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success move it over ``path``.

    The temporary file is fsync-ed before :func:`os.replace`, and the directory after
    it. If the body raises (or the process is interrupted), the temporary file is
    removed and ``path`` is left as it was.
    """
    # A symbolic link keeps pointing where it did: the file it names is replaced.
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=directory)
    except OSError as error:
        raise DataFileError(f"{path}: cannot write ({error.strerror or error})") from None
    os.close(fd)
    temporary = Path(temporary)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fchmod(handle.fileno(), _default_mode())
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            temporary.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def write_table(table, path):
    """Write ``table`` (its index is not written) to ``path`` atomically, in the format
    of the extension: ``.csv``, ``.csv.gz`` or ``.parquet``.

    CSV floats use Python's shortest round-trip representation (full precision), the
    line terminator is ``\\n`` and gzip output has a zero time stamp and no file name,
    so the same table gives the same bytes.
    """
    kind, compression = file_format(path, output=True)
    with atomic_path(path) as temporary:
        if kind == "parquet":
            _write_parquet(table, temporary, path)
        else:
            with open(temporary, "wb") as raw:
                if compression == "gzip":
                    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
                        _write_csv(table, packed)
                else:
                    _write_csv(table, raw)
    return Path(path)


def _write_csv(table, binary):
    """Write ``table`` as CSV, byte for byte as ``table.to_csv(index=False)`` writes it.

    With pyarrow the text is built column by column with Arrow's compute kernels,
    which is about ten times faster than pandas' writer for float columns; without
    pyarrow, or for column types the fast path does not handle, pandas writes.
    """
    if _have_pyarrow() and all(_arrow_encodable(table[c]) for c in table.columns):
        binary.write((",".join(_quote_field(str(c)) for c in table.columns) + "\n").encode("utf-8"))
        for start in range(0, len(table), _CSV_CHUNK_ROWS):
            binary.write(_csv_rows(table.iloc[start : start + _CSV_CHUNK_ROWS]))
        return
    text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=False)
    try:
        table.to_csv(text, index=False, lineterminator="\n")
        text.flush()
    finally:
        text.detach()


_CSV_CHUNK_ROWS = 200_000
_NEEDS_QUOTES = '[,"\r\n]'


def _quote_field(text):
    """A CSV field as the csv module's QUOTE_MINIMAL writes it."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _arrow_encodable(column):
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(dtype.categories.dtype) or dtype.categories.dtype == object
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iuf" or (dtype.kind == "O" and pd.api.types.infer_dtype(column) in ("string", "empty"))
    return pd.api.types.is_string_dtype(dtype)


def _csv_rows(chunk):
    """The CSV lines (with their newlines) of ``chunk`` as one bytes-like object."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with ThreadPoolExecutor(max_workers=min(len(chunk.columns), os.cpu_count() or 1)) as pool:
        # Arrow's kernels release the GIL, so the columns are formatted in parallel.
        columns = list(pool.map(_csv_field_strings, [chunk[c] for c in chunk.columns]))
    if len(columns) == 1:
        lines = columns[0]
    else:
        lines = pc.binary_join_element_wise(*columns, ",")
    lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.string()), "\n")
    lines = lines.cast(pa.string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def _csv_field_strings(column):
    """One column as the strings ``DataFrame.to_csv`` writes for it (an Arrow string array)."""
    import pyarrow as pa

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return _float_strings(column.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pa.array(column.to_numpy()).cast(pa.string())
    if isinstance(dtype, pd.CategoricalDtype):
        # Format the few categories, then pick them by code (-1, missing, picks "").
        labels = _text_strings(pd.Series(dtype.categories.astype(object)))
        labels = pa.concat_arrays([labels, pa.array([""], pa.string())])
        codes = column.cat.codes.to_numpy().astype(np.int64)
        return labels.take(pa.array(np.where(codes < 0, len(labels) - 1, codes)))
    return _text_strings(column)


def _text_strings(column):
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(column.astype(object), type=pa.string(), from_pandas=True)
    needs_quotes = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if pc.any(needs_quotes).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(needs_quotes, quoted, text)
    return pc.fill_null(text, "")


# Arrow writes floats in this range in positional notation, as Python's repr does.
_POSITIONAL_RANGE = (1e-4, 1e10)


def _float_strings(values):
    """Python's ``repr`` of each float (shortest round-trip digits), NaN as "".

    Arrow's float-to-text cast gives the same shortest digits; it omits the ".0" of
    whole numbers and switches to exponents at other magnitudes than Python, so
    whole numbers get ".0" appended and the few values outside
    ``_POSITIONAL_RANGE`` (and infinities) are formatted by Python itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=np.float64)
    text = pa.array(values).cast(pa.string())
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        inside = (magnitude >= _POSITIONAL_RANGE[0]) & (magnitude < _POSITIONAL_RANGE[1])
        whole = (values == np.trunc(values)) & (inside | (values == 0))
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    outside = ~inside & (values != 0)
    if outside.any():
        replacements = pa.array(["" if v != v else repr(v) for v in values[outside].tolist()], pa.string())
        text = pc.replace_with_mask(text, pa.array(outside), replacements)
    return text


def _write_parquet(table, temporary, path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError(f"{path}: writing Parquet files needs pyarrow: {PARQUET_HINT}") from None
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(arrow, temporary, compression="snappy")
