"""`relneurons packs list / check`: the shipped packs pass; a broken pack is one line and exit status 2."""

from importlib import resources

import pytest

from relneurons.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_list_and_check_the_shipped_packs(capsys):
    code, out, _ = run(capsys, "packs", "list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["de", "es", "fr", "ja", "zh"]
    code, out, _ = run(capsys, "packs", "check")
    assert code == 0 and out.count("ok: ") == 5 and "Chinese, 12 relations" in out
    code, out, _ = run(capsys, "packs", "--help")
    assert code == 0 and "Examples:" in out


def test_check_a_user_override_and_a_broken_pack(capsys, tmp_path):
    good = tmp_path / "fr.toml"
    good.write_text('[relations.star_constellation.objects]\nOrion = ["Orion", "le Chasseur"]\n', encoding="utf-8")
    code, out, _ = run(capsys, "packs", "check", str(good))
    assert code == 0 and f"ok: relneurons/resources/languages/fr.toml + {good}" in out

    shipped = (resources.files("relneurons") / "resources" / "languages" / "zh.toml").read_text(encoding="utf-8")
    bad = tmp_path / "ko.toml"
    bad.write_text(shipped.replace("[relations.company_ceo]", "[relations.company_ceo_]"), encoding="utf-8")
    code, out, err = run(capsys, "packs", "check", str(good), str(bad))
    assert code == 2 and "Traceback" not in err and err.strip().count("\n") == 0
    assert str(bad) in err and "unknown relation [relations.company_ceo_] (did you mean 'company_ceo'?)" in err


def test_listing_includes_a_user_language(capsys, tmp_path):
    shipped = (resources.files("relneurons") / "resources" / "languages" / "es.toml").read_text(encoding="utf-8")
    (tmp_path / "pt.toml").write_text(shipped.replace('name = "Spanish"', 'name = "Portuguese"'), encoding="utf-8")
    code, out, _ = run(capsys, "packs", "list", "--packs", str(tmp_path))
    assert code == 0 and "pt     Portuguese" in out
