# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The quick study on Gemma 3 270M, from Python
#
# The `relneurons run --preset quick` study driven step by step with `relneurons.Session`: collect and validate
# P_det prompts, rank every FFN neuron by average precision for each relation, then switch each relation's top-k
# neurons off and measure accuracy (Fig. 1-3 and the inter-relation matrix of the paper).
#
# Run it as a script (`python docs/examples/quick_study.py`: figures are saved under the output folder) or open
# it as a notebook (`pip install jupytext && jupytext --to notebook docs/examples/quick_study.py`: figures shown
# inline). `RELNEURONS_EXAMPLE_SMALL=1` runs a reduced study (2 relations, few prompts, 1 random seed: about
# 1.5 min of CPU), which the test suite executes; `RELNEURONS_EXAMPLE_OUT` sets the output folder. The LRE data
# comes from `$RELNEURONS_DATA` or the cache, as for `relneurons run`.

# %%
import os
import sys
from pathlib import Path

import relneurons as rn

SMALL = os.environ.get("RELNEURONS_EXAMPLE_SMALL", "") not in ("", "0")
OUT = Path(os.environ.get("RELNEURONS_EXAMPLE_OUT", "runs/quick-study-example"))
IN_NOTEBOOK = "ipykernel" in sys.modules

if SMALL:  # a minute of CPU: what the test suite runs
    RELATIONS = ["landmark_country", "person_pro_sport"]
    COLLECT = {"templates": [0], "n_eval": 10, "max_prompts_per_relation": 30}
    IDENTIFY = {"k": 100, "min_positives": 5}
    STUDY = {"seeds": 1, "max_det": 5, "n_boot": 200}
    SWEEP_KS = (10, 100)
else:  # the quick preset's settings (relneurons run --preset quick)
    RELATIONS = None  # the paper's 12 relations
    COLLECT = {"templates": [0], "n_eval": 50, "max_prompts_per_relation": 150}
    IDENTIFY = {"k": 0.0036, "min_positives": 10}  # 0.36% of the FFN neurons, as in the paper
    STUDY = {"seeds": 3, "max_det": 20, "n_boot": 1000}
    SWEEP_KS = (100, 1000)


def show(result: rn.ExperimentResult) -> None:
    """Display the experiment's figures in a notebook; as a script, save them under OUT/figures/."""
    for name, figure in result.figures.items():
        if IN_NOTEBOOK:
            from IPython.display import display

            display(figure)
        else:
            (OUT / "figures").mkdir(parents=True, exist_ok=True)
            figure.savefig(OUT / "figures" / f"{name}.png")
            print(f"saved {OUT / 'figures' / f'{name}.png'}")


session = rn.Session("gemma3-270m", OUT)  # the model loads once; OUT keeps every stage, so a rerun reuses them

# %% [markdown]
# ## 1. Validated prompts and activations
# Each P_det prompt is generated greedily; only the ones the model answers right are kept as positives.

# %%
prompts = session.collect(RELATIONS, **COLLECT)
prompts.groupby("relation")["correct"].agg(["mean", "sum", "size"])

# %% [markdown]
# ## 2. Relation-specific neurons
# The top-k neurons of each relation by average precision, with their layer, module and unit.

# %%
top = session.identify(**IDENTIFY)
print(top.groupby("relation").head(3).to_string())
study = session.study(**STUDY)  # the settings every experiment shares (k: identification's)
layers = session.run("layers", study)  # Fig. 1: where the top-k neurons sit
overlap = session.run("overlap", study)  # Fig. 2: how much the relations' sets share
show(layers)
show(overlap)

# %% [markdown]
# ## 3. Switching them off
# Accuracy on held-out (P_eva) and validated (P_det) prompts with nothing, k random neurons, or the relation's
# top-k neurons off (Fig. 3), and every relation's neurons off on every relation (inter).

# %%
intra = session.run("intra", study)
inter = session.run("inter", study)
print(intra.table[["relation", "split", "condition", "accuracy", "ci_low", "ci_high"]].to_string())
show(intra)
show(inter)

# %% [markdown]
# ## 4. How many neurons does it take?

# %%
sweep = session.run("sweep", study, k_sweep=SWEEP_KS)
show(sweep)
sweep.table  # noqa: B018 (the notebook cell's displayed value)
