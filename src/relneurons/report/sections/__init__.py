"""Section builders: each turns one part of a run folder into the context of its template.

A builder is `build(s: reader.Section) -> dict`; `s.summary` is the experiment's typed summary when its spec
declares one. Builders read and compute (pure, no HTML); the prose and markup live in templates/sections/
<name>.html.j2. An experiment's spec names its builder (`ExperimentSpec.report`).
"""
