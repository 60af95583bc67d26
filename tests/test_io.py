"""File helpers of the command line (clvmodels._io) added for issue 14."""

import os

import pytest

from clvmodels import _io


def test_same_file_by_path_link_and_inode(tmp_path):
    data = tmp_path / "tx.csv"
    data.write_text("x\n")
    os.symlink(data, tmp_path / "soft.csv")
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    assert _io.same_file(data, tmp_path / "soft.csv")
    assert _io.same_file(data, tmp_path / "hard.csv")
    assert _io.same_file(data, tmp_path / "sub" / ".." / "tx.csv")
    assert _io.same_file(tmp_path / "new.csv", tmp_path / "sub" / ".." / "new.csv")  # neither exists yet
    assert not _io.same_file(data, tmp_path / "other.csv")


def test_check_not_overwriting_names_both_options(tmp_path):
    data = tmp_path / "tx.csv"
    data.write_text("x\n")
    with pytest.raises(_io.DataFileError, match="--out is the same file as the input TRANSACTIONS"):
        _io.check_not_overwriting({"--out": data}, {"TRANSACTIONS": data})
    with pytest.raises(_io.DataFileError, match="--model-out and --out name the same file"):
        _io.check_not_overwriting({"--out": tmp_path / "o", "--model-out": tmp_path / "o"}, {})
    _io.check_not_overwriting({"--out": tmp_path / "o.csv", "--model-out": None}, {"TRANSACTIONS": data})


@pytest.mark.parametrize("given, meant", [
    ("tab", "\t"), ("TAB", "\t"), ("\\t", "\t"), ("\t", "\t"), ("semicolon", ";"), (";", ";"),
    ("pipe", "|"), (None, None), ("whitespace", "whitespace"),
])
def test_csv_separator_spellings(given, meant):
    assert _io.csv_separator(given) == meant


@pytest.mark.parametrize("bad", ["", ";;", "\n", '"'])
def test_csv_separator_refuses_non_separators(bad):
    with pytest.raises(ValueError, match="sep"):
        _io.csv_separator(bad)


def test_decimal_mark():
    assert _io.decimal_mark(None) is None and _io.decimal_mark(".") is None
    assert _io.decimal_mark(",", ";") == ","
    with pytest.raises(ValueError, match="also the field separator"):
        _io.decimal_mark(",", None)
    with pytest.raises(ValueError, match="not a decimal mark"):
        _io.decimal_mark("x", ";")


def test_read_json_file_refuses_oversized_files(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "MAX_JSON_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 100 + "1]")
    with pytest.raises(_io.DataFileError, match="big.json: not a model file: larger than"):
        _io.read_json_file(path)
    path.write_text('{"a": 1}')
    assert _io.read_json_file(path) == {"a": 1}


def test_read_json_file_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert _io.read_json_file(path) == {"a": 1}


def test_output_that_is_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(_io.DataFileError, match="not a regular file"):
        _io.check_writable(tmp_path / "pipe.csv")
