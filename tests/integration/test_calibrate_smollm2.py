"""SmolLM2-135M answers the paper's "? Answer:" with a new line: calibration finds a style it answers, and a run in the
paper's style ends with one error line that names that style (real model, real LRE data; slow)."""

import json

import pytest

from relneurons.errors import DataError
from relneurons.pipeline import load_config, run_study
from relneurons.pipeline.calibrate import best_style, calibrate

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m"
RELATIONS = ["landmark_country", "company_hq", "star_constellation"]


@pytest.fixture(scope="module")
def table(lre_dir):
    return calibrate(MODEL, lre_dir, relations=RELATIONS, n=10, device="cpu", echo=None)


def test_calibration_finds_a_style_smollm2_answers(table):
    paper = table[(table["suffix"] == "? Answer:") & ~table["chat"]]
    assert (paper["rate"] == 0).all(), paper  # the paper's suffix: a new line, never the object
    best = best_style(table)
    assert best is not None and best.suffix != "? Answer:" and table["rate"].iloc[0] > 0


def test_a_run_in_the_paper_style_names_the_style_that_works(table, lre_dir, tmp_path):
    config = load_config(
        "quick",
        None,
        [
            f"model.name={json.dumps(MODEL)}",
            'model.device="cpu"',
            f"data.dir={json.dumps(str(lre_dir))}",
            f"data.relations={json.dumps(RELATIONS)}",
            "data.max_prompts_per_relation=20",
            'experiments.run=["layers"]',
            f"run.out={json.dumps(str(tmp_path / 'run'))}",
        ],
    )
    with pytest.raises(DataError) as caught:
        run_study(config, quiet=True)
    message = str(caught.value)
    best = best_style(table)
    assert message.startswith("no relation survived validation") and "\n" not in message
    assert (
        all(f"--set '{o}'" in message for o in best.overrides())
        and "relneurons calibrate --model smollm2-135m" in message
    )
    assert not (tmp_path / "run" / "identify").exists()  # nothing after collect ran
