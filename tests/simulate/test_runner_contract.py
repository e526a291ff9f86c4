"""SimulationResult follows the results contract for result objects."""

from __future__ import annotations

import json

from evsynth import simulate
from evsynth.models.results import Summary


def test_simulation_result_contract(capsys):
    res = simulate.run(simulate.grid(k=5, tau2=[0.0, 0.2], measure="known", n=40),
                       simulate.Method("DL"), replicates=50, seed=1)
    s = res.summary()
    assert isinstance(s, Summary) and capsys.readouterr().out == ""
    assert "2 scenarios x 1 methods x 50 replicates" in str(s) and repr(res) == str(s)
    d = res.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert len(res.to_frame()) == 2 and "<pre>" in res._repr_html_()
