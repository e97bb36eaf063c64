"""`relneurons calibrate` on a tiny random model (fixture only) and the real LRE data: every style, one table."""

import pandas as pd
import pytest
from tiny_models import save_tiny_folder

from relneurons.cli import main


def test_calibrate_command_prints_and_writes_every_style(tmp_path, lre_dir, capsys):
    folder = save_tiny_folder(tmp_path / "model")
    with pytest.raises(SystemExit) as done:
        main(
            [
                "calibrate",
                "--model",
                str(folder),
                "--data",
                str(lre_dir),
                "-r",
                "company_hq,star_constellation",
                "--n",
                "2",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "styles.csv"),
            ]
        )
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "validation rate of each prompt style" in out and (
        "best style: relneurons run --set" in out or "no style validated" in out
    )
    table = pd.read_csv(tmp_path / "styles.csv", keep_default_na=False)
    assert len(table) == 16 and set(table["suffix"]) == {"? Answer:", " ", "", ":"} and (table["n_prompts"] == 4).all()
