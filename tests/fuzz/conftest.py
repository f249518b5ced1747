"""Property-based tests: one hypothesis profile with a fixed budget, and the schemas records are drawn from.

`max_examples` and `deadline` are fixed so that `make test` takes the same time on every run (the
folder runs in about a minute on two cores); `derandomize` makes CI draw the same examples each time,
and a failure found by hypothesis is kept as a plain regression test beside the property.
`HYPOTHESIS_PROFILE=deep` draws many more examples, for a hunt by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=2000,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("deep", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
