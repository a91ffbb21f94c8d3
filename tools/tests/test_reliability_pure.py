"""Pure parts of tools/reliability.py (not in pyproject's testpaths):
PYTHONPATH=tools ~/.cache/pos_mpesa/dev-venv/bin/pytest tools/tests -p pytest_repo_root"""

import random

import pytest
import reliability as rel


def _c2b(**changes):
    body = rel.c2b_body("FAB1234567", 150)
    body.update(changes)
    return rel._dumps(body)


def test_oracle_accepts_daraja_shapes():
    assert rel.well_formed_c2b(_c2b()) == "FAB1234567"
    assert rel.well_formed_c2b(_c2b(TransAmount=150, BusinessShortCode=600984)) == "FAB1234567"
    assert rel.well_formed_c2b(_c2b(FirstName=None)) == "FAB1234567"  # other fields are not judged


@pytest.mark.parametrize(
    "changes",
    [
        {"TransID": None},
        {"TransID": "AB\x00CDEFG"},
        {"TransAmount": "-1"},
        {"TransAmount": "1.005"},
        {"TransAmount": True},
        {"BusinessShortCode": [600984]},
        {"FirstName": "JO\x00HN"},
    ],
)
def test_oracle_refuses_malformed_key_fields(changes):
    assert rel.well_formed_c2b(_c2b(**changes)) is None


@pytest.mark.parametrize("kind", ["truncate", "nul_raw", "invalid_utf8", "deep", "big", "nul_escaped"])
def test_mutations_that_always_malform(kind):
    rng = random.Random(3)  # noqa: S311
    for _ in range(20):
        body, label = rel.mutate(rng, _c2b(), kind)
        assert label == kind
        if kind == "nul_escaped" and b'"TransID": "\\u0000' not in body and b"\\u0000" in body:
            continue  # a NUL in FirstName / BillRefNumber: still malformed by the oracle
        assert rel.well_formed_c2b(body) is None


def test_report_counts_and_table():
    report = rel.Report()
    report.add("s", "a figure", 0, 0)
    report.add("s", "another", 3, 0)
    assert report.counts() == (1, 1)
    table = report.table().splitlines()
    assert table[0].startswith("| scenario") and "FAIL" in table[-1]
