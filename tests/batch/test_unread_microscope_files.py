"""Folders that hold microscope files LabelFree does not read (Zeiss CZI, Nikon ND2, ...).

A batch on a folder of ``.czi`` beside a few ``.tif`` ran the TIFFs and said nothing of the CZIs; a folder of
only CZI/ND2 files was refused without a word of them; ``labelfree threshold FOLDER`` advised Fiji's Image
Sequence import for them; and the reader said "a Imaris file". Hidden and AppleDouble (``._name``) files are
passed over in silence.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.batch import collect_inputs
from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.io import read_image

#: the first bytes of a Zeiss CZI file (its segment header) and of a Nikon ND2 file
CZI_HEAD = b"ZISRAWFILE" + bytes(22)
ND2_HEAD = b"\xda\xce\xbe\x0a" + bytes(28)


def _cells(n: int = 64) -> np.ndarray:
    img = np.full((n, n), 10, np.uint8)
    img[8:20, 8:20] = 200
    img[30:50, 34:52] = 200
    return img


def _explorer_folder(root):
    """The folder of the report: two readable images, a CZI, a text file, and macOS's AppleDouble and hidden files."""
    folder = root / "scans"
    folder.mkdir()
    tifffile.imwrite(folder / "ref_u8.tif", _cells())
    Image.fromarray(_cells()).save(folder / "g.png")
    (folder / "fake.czi").write_bytes(CZI_HEAD)
    (folder / "notes.txt").write_text("stage 3, 37 C\n")
    (folder / "._ref_u8.tif").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble resource fork
    (folder / "._fake.czi").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    (folder / ".hidden.nd2").write_bytes(ND2_HEAD)
    return folder


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_batch_warns_once_of_the_microscope_files_it_leaves_out(tmp_path, caplog):
    folder = _explorer_folder(tmp_path)
    with caplog.at_level(logging.INFO, logger="labelfree"):
        items = collect_inputs(folder)
    assert sorted(it.path.name for it in items) == ["g.png", "ref_u8.tif"]  # the ._ file is no input
    said = _warnings(caplog)
    assert len(said) == 1, said
    note = said[0]
    assert f"the folder {folder} holds 1 file(s) in a microscope format that LabelFree does not read (Zeiss CZI: " \
           "fake.czi), which are not inputs of this run" in note
    assert "File > Import > Bio-Formats" in note and "bfconvert fake.czi fake.ome.tif" in note
    assert "bioformats2raw fake.czi fake.ome.zarr" in note
    # hidden and AppleDouble files, and files of no image format, are passed over without a word
    every = " ".join(r.getMessage() for r in caplog.records)
    assert "._" not in every and ".hidden" not in every and "notes.txt" not in every


def test_the_note_counts_every_file_and_names_the_first_five(tmp_path, caplog):
    folder = tmp_path / "plate"
    folder.mkdir()
    tifffile.imwrite(folder / "overview.tif", _cells())
    for k in range(7):
        (folder / f"well{k}.czi").write_bytes(CZI_HEAD)
    (folder / "stack.ND2").write_bytes(ND2_HEAD)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        items = collect_inputs([folder, str(folder / "*")])  # the files of both are counted once
    assert [it.path.name for it in items] == ["overview.tif"]
    said = _warnings(caplog)
    assert len(said) == 1
    assert "8 file(s) in a microscope format that LabelFree does not read (Nikon ND2, Zeiss CZI: stack.ND2, " \
           "well0.czi, well1.czi, well2.czi, well3.czi and 3 more)" in said[0]
    assert 'for f in *.ND2 *.czi; do bfconvert "$f" "${f%.*}.ome.tif"; done' in said[0]
    from labelfree.batch.unread import unread_files_note

    assert unread_files_note(folder) == said[0].replace(f"folder {folder} and the pattern {str(folder / '*')!r} hold",
                                                        f"folder {folder} holds")
    assert unread_files_note(folder / "overview.tif") is None


def test_a_folder_of_only_microscope_files_says_how_to_convert_them(tmp_path):
    folder = tmp_path / "raw"
    (folder / "pos1").mkdir(parents=True)
    (folder / "a.czi").write_bytes(CZI_HEAD)
    (folder / "b.nd2").write_bytes(ND2_HEAD)
    (folder / "pos1" / "c.czi").write_bytes(CZI_HEAD)
    (folder / "._a.czi").write_bytes(bytes(64))
    with pytest.raises(InputError) as err:
        collect_inputs(folder)
    text = str(err.value)
    assert f"The folder {folder} holds no image files that LabelFree reads" in text
    assert "2 file(s) in a microscope format that LabelFree does not read (Nikon ND2, Zeiss CZI: a.czi, b.nd2)" in text
    assert "its folders hold 1 file(s) in a microscope format that LabelFree does not read (Zeiss CZI: pos1/c.czi)" \
        in text
    assert "bfconvert a.czi a.ome.tif" in text and "bioformats2raw a.czi a.ome.zarr" in text
    assert "._a.czi" not in text
    with pytest.raises(InputError, match=r"match the pattern .*\*\.czi'\. It matches 1 file\(s\) in a microscope "
                                         r"format that LabelFree does not read \(Zeiss CZI: a\.czi\).*bfconvert"):
        collect_inputs(str(folder / "*.czi"))


def test_hidden_files_alone_give_the_plain_message(tmp_path, caplog):
    folder = tmp_path / "copied_from_mac"
    folder.mkdir()
    (folder / "._cells.tif").write_bytes(bytes(64))
    (folder / "._scan.czi").write_bytes(bytes(64))
    (folder / ".DS_Store").write_bytes(bytes(64))
    with caplog.at_level(logging.INFO, logger="labelfree"), pytest.raises(InputError) as err:
        collect_inputs(folder)
    assert str(err.value).startswith(f"The folder {folder} holds no image files (.ome.tiff")
    assert "microscope" not in str(err.value) and "._" not in str(err.value)
    assert _warnings(caplog) == []


def test_a_command_on_a_folder_of_microscope_files_gives_bio_formats_advice(tmp_path):
    folder = tmp_path / "nd2"
    folder.mkdir()
    (folder / "a0.nd2").write_bytes(ND2_HEAD)
    (folder / "b.czi").write_bytes(CZI_HEAD)
    with pytest.raises(InputError) as err:
        read_image(folder)
    text = str(err.value)
    assert "holds 2 other file(s) (.czi, .nd2). All of them are microscope files (Nikon ND2, Zeiss CZI: a0.nd2, " \
           "b.czi), which LabelFree does not read" in text
    assert "File > Import > Bio-Formats" in text and "bfconvert a0.nd2 a0.ome.tif" in text
    assert f"labelfree batch {folder} --pipeline NAME -o OUT" in text
    assert "Image Sequence" not in text
    (folder / "b.czi").unlink()
    (folder / "metadata.txt").write_text("{}")
    with pytest.raises(InputError, match=r"holds 2 other file\(s\) \(.nd2, .txt\)\. 1 of them is a microscope file "
                                         r"\(Nikon ND2: a0\.nd2\)"):
        read_image(folder)
    other = tmp_path / "jpeg2000"
    other.mkdir()
    (other / "t0.jp2").write_bytes(bytes(32))
    with pytest.raises(InputError, match=r"holds 1 other file\(s\) \(.jp2\)\. Frames in another format: .*Image "
                                         r"Sequence"):
        read_image(other)


@pytest.mark.parametrize(("name", "said"), [("cells.ims", "is an Imaris file (.ims)"),
                                            ("cells.oib", "is an Olympus OIB file (.oib)"),
                                            ("cells.ics", "is an ICS file (.ics)"),
                                            ("cells.czi", "is a Zeiss CZI file (.czi)")])
def test_the_reader_names_the_format_with_its_article(tmp_path, name, said):
    (tmp_path / name).write_bytes(bytes(64))
    with pytest.raises(InputError, match=said.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_image(tmp_path / name)


def test_cli_batch_runs_the_images_and_warns_of_the_czi(tmp_path, capsys, caplog):
    folder = _explorer_folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        code = main(["batch", str(folder), "-p", "threshold", "-o", str(tmp_path / "out"), "--scheduler", "sync",
                     "--no-progress"])
    assert code == 0 and "2 input(s): 2 ok" in capsys.readouterr().out
    said = [text for text in _warnings(caplog) if "fake.czi" in text]
    assert len(said) == 1 and said[0].startswith(f"batch: the folder {folder} holds 1 file(s) in a microscope format")
    assert "bfconvert fake.czi fake.ome.tif" in said[0]


def test_the_conversion_commands_quote_names_a_shell_would_split():
    from labelfree.io.raster import convert_advice

    said = convert_advice(["my scan.czi"])
    assert "bfconvert 'my scan.czi' 'my scan.ome.tif'" in said and "bioformats2raw 'my scan.czi'" in said
    assert "bfconvert plain.czi plain.ome.tif" in convert_advice(["plain.czi"])
