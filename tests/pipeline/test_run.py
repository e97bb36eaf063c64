"""Stage keys of `relneurons run` see edits to the files an experiment option names."""

import os

from relneurons.pipeline.run import file_stamp


def test_editing_a_named_file_changes_its_stamp(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("relation,subject,object,count\n")
    before = file_stamp(str(counts))
    counts.write_text("relation,subject,object,count\nr,s,o,3\n")
    assert file_stamp(str(counts)) != before


def test_a_folder_is_stamped_by_every_file_in_it(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "de.toml").write_text("x")
    before = file_stamp(str(tmp_path / "packs"))
    (tmp_path / "packs" / "it.toml").write_text("y")
    after = file_stamp(str(tmp_path / "packs"))
    assert [name for name, *_ in after] == ["de.toml", "it.toml"] and after != before
    os.utime(tmp_path / "packs" / "de.toml", ns=(1, 1))
    assert file_stamp(str(tmp_path / "packs")) != after


def test_options_that_are_not_paths_have_no_stamp():
    assert file_stamp("all") is None and file_stamp("no/such/file.csv") is None
