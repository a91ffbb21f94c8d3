"""Pure parts of tools/reliability.py (not in pyproject's testpaths):
PYTHONPATH=tools ~/.cache/pos_mpesa/dev-venv/bin/pytest tools/tests -p pytest_repo_root"""

import json
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


def test_forged_results_carry_the_marker_and_never_a_known_shape():
    rng = random.Random(5)  # noqa: S311
    bodies = rel.forged_results(rng, 20, "RELX1234")
    assert [kind for kind, _ in bodies].count("unknown") == 10
    assert all(b"RELX1234" in body and 0 < len(body) < rel.MAX_RAW for _, body in bodies)
    originators = set()
    for kind, body in bodies:
        if kind == "unknown":
            result = json.loads(body)["Result"]
            originators.add(result["OriginatorConversationID"])
            assert result["ResultCode"] == 0
    assert len(originators) == 10


def test_overlapping_sets_want_every_payment_twice_or_more():
    rng = random.Random(1)  # noqa: S311
    for n in (3, 6, 10):
        sets = rel.overlapping_sets(n, rng)
        assert len(sets) == n and all(2 <= len(s) <= 3 and len(set(s)) == len(s) for s in sets)
        wanted = [sum(i in s for s in sets) for i in range(n)]
        assert min(wanted) >= 1 and sum(wanted) >= 2 * n


def test_several_verdict():
    orders = [
        {"key": "a", "ids": [1, 2], "success": True},
        {"key": "b", "ids": [2, 3], "success": False},
        {"key": "c", "ids": [3, 4], "success": True},
    ]
    clean = rel.several_verdict(orders, {1: "a", 2: "a", 3: "c", 4: "c"})
    assert clean == {"partial": 0, "told_wrong": 0, "for_refused": 0, "twice": 0, "won": 2}
    orders[1]["success"] = True  # b told success, but payment 2 is a's and 3 is c's
    broken = rel.several_verdict(orders, {1: "a", 2: "a", 3: "b", 4: ""})
    assert broken == {"partial": 1, "told_wrong": 2, "for_refused": 0, "twice": 2, "won": 3}
    orders[1]["success"] = False
    refused = rel.several_verdict(orders, {1: "a", 2: "a", 3: "b", 4: "c"})
    assert refused["for_refused"] == 1 and refused["partial"] == 2
