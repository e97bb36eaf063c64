import pytest
from transformers import LlamaConfig

from relneurons.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_help_shows_examples(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "Examples:" in out
    for command in ("collect", "identify", "neurons", "generate", "models"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "Examples:" in out, command


def test_neurons_from_a_config_only_folder(capsys, tmp_path):
    LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000
    ).save_pretrained(tmp_path)
    code, out, _ = run(capsys, "neurons", "--model", str(tmp_path))
    assert code == 0
    assert "835,584" in out and "mlp.gate_proj" in out and "32 x  11008" in out


def test_unknown_alias_is_one_clear_line(capsys):
    code, _, err = run(capsys, "neurons", "--model", "gemma3-27m")
    assert code == 2
    assert err.strip().count("\n") == 0 and "did you mean 'gemma3-270m'" in err and "Traceback" not in err


def test_unknown_relation_fails_before_loading_a_model(capsys, lre_dir, tmp_path):
    code, _, err = run(
        capsys,
        "collect",
        "--model",
        "no/such-model-anywhere",
        "--data",
        str(lre_dir),
        "--relations",
        "company_hqq",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 2 and "company_hqq" in err and "did you mean 'company_hq'" in err
    assert not (tmp_path / "s").exists()


def test_bad_k_is_named(capsys, tmp_path):
    (tmp_path / "store").mkdir()
    code, _, err = run(capsys, "identify", str(tmp_path / "store"), "--out", str(tmp_path / "id"), "--k", "lots")
    assert code == 2 and "--k" in err


def test_missing_store_is_explained(capsys, tmp_path):
    (tmp_path / "store").mkdir()
    code, _, err = run(capsys, "identify", str(tmp_path / "store"), "--out", str(tmp_path / "id"))
    assert code == 2 and "not an activation store" in err and "relneurons collect" in err
