"""Waterfall cadences fire on the DPDs they declare, and bad waterfalls are rejected with the key named."""

from __future__ import annotations

import numpy as np
import pytest

import policies
from policies import Waterfall
from policies.split import ChampionChallenger
from policies.waterfall import shipped_waterfalls
from sim.catalogue import ACTION_BY_NAME, AGENCY, NO_ACTION, contact_action
from sim.engine import ENGINE_FIELDS, Observation, PortfolioModel
from sim.errors import ConfigError
from sim.features import FEATURE_NAMES, feature_matrix
from sim.observation import OBSERVATION_FIELDS
from sim.scenario import Scenario


def observation(dpd: list[int]) -> Observation:
    n = len(dpd)
    zeros = np.zeros(n)
    return Observation(
        day=0,
        active=np.ones(n, dtype=bool),
        dpd=np.array(dpd),
        cycles_past_due=np.zeros(n, dtype=int),
        balance=zeros + 1_000,
        past_due=zeros + 50,
        credit_limit=zeros + 5_000,
        placed_with_agency=np.zeros(n, dtype=bool),
        days_since_contact=np.full((n, 4), 10**6),
        calls_last_7_days=np.zeros(n, dtype=int),
        days_since_conversation=np.full(n, 10**6),
        on_hold=np.zeros(n, dtype=bool),
        stop_contact=np.zeros(n, dtype=bool),
        hardship_disclosed=np.zeros(n, dtype=bool),
        promise_pending=np.zeros(n, dtype=bool),
        on_plan=np.zeros(n, dtype=bool),
        disputed=np.zeros(n, dtype=bool),
        complaints=np.zeros(n, dtype=int),
        days_since_statement=np.zeros(n, dtype=int),
        days_since_payment=np.full(n, 10**6),
        portal_logins=np.zeros(n, dtype=int),
        spend_change=zeros,
    )


def test_cadence_fires_on_declared_dpds():
    waterfall = Waterfall.from_dict(
        {
            "name": "t",
            "stages": [
                {
                    "dpd": [1, 29],
                    "treatments": [
                        {"channel": "sms", "framing": "social_norm", "start": 3, "every": 7},
                        {"channel": "email", "start": 3},
                    ],
                },
                {"dpd": [30, 119]},
                {"dpd": [120, 179], "treatments": [{"action": "agency"}]},
            ],
        }
    )
    dpd = list(range(0, 181))
    actions = waterfall.decide(observation(dpd))
    sms = contact_action("sms", "social_norm")
    assert [d for d in dpd if actions[d] == sms] == [4, 11, 18, 25]
    # The email shares DPD 4 with the SMS listed first, so it never fires.
    assert contact_action("email") not in actions
    assert [d for d in dpd if actions[d] == AGENCY] == [120]
    assert actions[0] == NO_ACTION
    assert actions[180] == NO_ACTION


def test_inactive_accounts_get_no_action():
    obs = observation([4, 4])
    obs.active[1] = False  # the test helper's arrays are writable
    actions = policies.load("standard").decide(obs)
    assert actions[1] == NO_ACTION


@pytest.mark.parametrize("name", shipped_waterfalls())
def test_shipped_waterfalls_load(name):
    policy = policies.load(name)
    assert policy.name == name
    assert policy.spec.description


def test_huge_every_names_the_limit():
    data = {"name": "x", "stages": [{"dpd": [1, 9], "treatments": [{"channel": "sms", "every": 2**63}]}]}
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.key_path == "stages[0].treatments[0].every"
    assert "less than or equal to 3650" in caught.value.message


def test_error_shortens_a_huge_value():
    data = {"name": "x", "stages": {f"key{i}": list(range(1_000)) for i in range(3_000)}}
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.key_path == "stages"
    assert len(str(caught.value)) < 400
    assert "..." in caught.value.message


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        (
            {"name": "x", "stages": [{"dpd": [1, 9], "treatments": [{"channel": "fax"}]}]},
            "stages[0].treatments[0].channel",
            "email",
        ),
        (
            {"name": "x", "stages": [{"dpd": [1, 9], "treatments": [{"channel": "sms", "framing": "shouty"}]}]},
            "stages[0].treatments[0].framing",
            "social_norm",
        ),
        ({"name": "x", "stages": [{"dpd": [1, 30]}, {"dpd": [30, 60]}]}, "stages", "overlap"),
        ({"name": "x", "stages": [{"dpd": [9, 1]}]}, "stages[0].dpd", "empty"),
        ({"name": "x", "stages": [{"dpd": [1, 9], "cadence": []}]}, "stages[0].cadence", "unknown key"),
        ({"name": "x", "stages": [{"dpd": [1, 29]}, {"dpd": [40, 60]}]}, "stages", "DPD 30 to 39 is uncovered"),
        ({"name": "x", "exit": ["paid"], "stages": []}, "exit[0]", "promise_pending"),
        (
            {"name": "x", "stages": [{"dpd": [1, 9], "segment": {"balance": [-5, 10]}}]},
            "stages[0].segment.balance[0]",
            "greater than or equal to 0",
        ),
        ({"name": "", "stages": [{"dpd": [1, 9]}]}, "name", "at least 1 character"),
        (
            {"name": "x", "stages": [{"dpd": [1, 9], "segment": {"risk_score": [0.5, 2]}}]},
            "stages[0].segment.risk_score[1]",
            "less than or equal to 1",
        ),
        ({"name": "arm/b", "stages": [{"dpd": [1, 9]}]}, "name", "must start with an ASCII letter or digit"),
        ({"name": "bell\x07", "stages": [{"dpd": [1, 9]}]}, "name", "must start with an ASCII letter or digit"),
        ({"name": "x" * 101, "stages": [{"dpd": [1, 9]}]}, "name", "at most 100 characters"),
    ],
)
def test_bad_waterfall_names_the_key(data, key, fragment):
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.source == "w.yaml"
    assert caught.value.key_path == key
    assert fragment in caught.value.message


def test_gap_covered_by_other_segments_is_valid():
    # DPD 30 to 59 is split by balance, so the stages without a segment on either side leave no DPD unhandled.
    data = {
        "name": "x",
        "stages": [
            {"dpd": [1, 29]},
            {"dpd": [30, 59], "segment": {"balance": [None, 999.99]}},
            {"dpd": [30, 59], "segment": {"balance": [1000, None]}},
            {"dpd": [60, 89]},
        ],
    }
    assert len(Waterfall.from_dict(data).spec.stages) == 4


def test_gap_names_its_uncovered_part():
    data = {
        "name": "x",
        "stages": [
            {"dpd": [1, 29]},
            {"dpd": [30, 44], "segment": {"balance": [None, 999.99]}},
            {"dpd": [60, 89]},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.key_path == "stages"
    assert "DPD 45 to 59 is uncovered between stages[0] and stages[2]" in caught.value.message


SEGMENTED = {
    "name": "by_balance",
    "exit": ["promise_pending"],
    "stages": [
        {"dpd": [1, 29], "segment": {"balance": [None, 999.99]}, "treatments": [{"channel": "sms", "every": 1}]},
        {"dpd": [1, 29], "segment": {"balance": [1000, None]}, "treatments": [{"channel": "call", "every": 7}]},
    ],
}


def test_segments_route_accounts_by_balance():
    obs = observation([1, 1, 1, 1])
    obs.balance[:] = [10.0, 999.99, 1000.0, 50_000.0]
    actions = Waterfall.from_dict(SEGMENTED).decide(obs)
    assert list(actions) == [contact_action("sms")] * 2 + [contact_action("call")] * 2


def test_exit_conditions_skip_accounts():
    obs = observation([5, 5])
    obs.balance[:] = 100.0
    obs.promise_pending[1] = True
    actions = Waterfall.from_dict(SEGMENTED).decide(obs)
    assert actions[0] == contact_action("sms")
    assert actions[1] == NO_ACTION


MIXED = {
    "name": "mixed",
    "exit": ["promise_pending"],
    "stages": [
        {"dpd": [0, 0], "treatments": [{"channel": "email", "cycle_day": 20}]},
        {"dpd": [1, 29], "treatments": [{"channel": "sms", "start": 2, "every": 5}, {"channel": "email", "every": 3}]},
        {"dpd": [30, 30], "treatments": [{"action": "agency"}]},
        {"dpd": [31, 12_000], "treatments": [{"action": "sell", "start": 3_000, "every": 1_000}]},
        {"dpd": [12_001, 12_100], "segment": {"balance": [None, 999.99]}, "treatments": [{"channel": "letter"}]},
        {"dpd": [12_001, 12_100], "segment": {"balance": [1000, None]}, "treatments": [{"channel": "call"}]},
    ],
}


def expected_action(waterfall: Waterfall, obs: Observation, i: int) -> int:
    """One account's action by the documented rule: the first listed treatment of its stage that falls today."""
    if not obs.active[i] or any(getattr(obs, condition)[i] for condition in waterfall.spec.exit):
        return NO_ACTION
    dpd = int(obs.dpd[i])
    for stage in waterfall.spec.stages:
        low, high = stage.dpd
        band = stage.segment.balance
        in_band = band is None or ((band[0] or 0) <= obs.balance[i] <= (band[1] or np.inf))
        if not (low <= dpd <= high and in_band):
            continue
        for treatment in stage.treatments:
            if treatment.cycle_day is not None:
                falls = obs.days_since_statement[i] == treatment.cycle_day
            else:
                offset = dpd - low - treatment.start
                falls = offset == 0 if treatment.every is None else offset >= 0 and offset % treatment.every == 0
            if falls:
                return treatment.action_index
        return NO_ACTION
    return NO_ACTION


def test_mixed_stages_match_the_rule():
    rng = np.random.default_rng(0)
    dpd = list(range(0, 100)) + [3_031, 3_032, 4_031, 11_031, 12_000] + list(rng.integers(12_001, 12_102, size=300))
    obs = observation(dpd)
    obs.balance[:] = rng.choice([500.0, 999.99, 1000.0, 4000.0], size=len(dpd))
    obs.days_since_statement[:] = rng.integers(0, 30, size=len(dpd))
    obs.promise_pending[:] = rng.random(len(dpd)) < 0.1
    obs.active[:] = rng.random(len(dpd)) < 0.9
    waterfall = Waterfall.from_dict(MIXED)
    actions = waterfall.decide(obs)
    expected = [expected_action(waterfall, obs, i) for i in range(len(dpd))]
    assert actions.tolist() == expected
    # Every kind of stage acts on some account, so the comparison covers each path.
    for action in ("email", "sms", "letter", "call"):
        assert contact_action(action) in expected
    assert AGENCY in expected
    assert ACTION_BY_NAME["sell"] in expected


def test_overlapping_segments_rejected():
    data = {
        "name": "x",
        "stages": [
            {"dpd": [1, 29], "segment": {"balance": [0, 1000]}},
            {"dpd": [20, 40], "segment": {"balance": [500, None]}},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data)
    assert "overlap at DPD 20" in caught.value.message


def test_guard_conflicts_warn():
    data = {
        "name": "x",
        "stages": [
            {"dpd": [1, 60], "treatments": [{"channel": "call", "every": 2}]},
            {"dpd": [61, 90], "treatments": [{"action": "settlement", "discount": 0.4}]},
        ],
    }
    with pytest.warns(UserWarning) as record:
        Waterfall.from_dict(data, source="w.yaml")
    messages = [str(w.message) for w in record]
    assert any("stages[0].treatments[0]: calls every 2 days" in m for m in messages)
    assert any("stages[1].treatments[0]: a 40% settlement before DPD 121" in m for m in messages)


# -- the fields a waterfall observes -----------------------------------------------------------------------------

OBSERVING = {
    "name": "observing",
    "exit": ["promise_pending", "paid_since_statement"],
    "stages": [
        {"dpd": [0, 0], "treatments": [{"channel": "email", "cycle_day": 20}]},
        {"dpd": [1, 59], "treatments": [{"channel": "sms", "every": 5}]},
        {"dpd": [60, 179], "segment": {"cycles_past_due": [None, 3]}, "treatments": [{"channel": "call", "every": 7}]},
        {"dpd": [60, 179], "segment": {"cycles_past_due": [4, None]}, "treatments": [{"channel": "letter"}]},
    ],
}


class AllFields:
    """The same waterfall without its observed_fields, so the model computes every field."""

    def __init__(self, waterfall: Waterfall) -> None:
        self.waterfall, self.name = waterfall, waterfall.name

    def decide(self, obs: Observation) -> np.ndarray:
        return self.waterfall.decide(obs)


def test_waterfall_declares_the_fields_it_reads():
    waterfall = Waterfall.from_dict(OBSERVING)
    assert waterfall.observed_fields == {
        "active",
        "dpd",
        "promise_pending",
        "days_since_payment",
        "days_since_statement",
        "cycles_past_due",
    }
    assert policies.load("standard").observed_fields == {"active", "dpd"}
    # A risk score reads every feature of the observation.
    assert policies.load("risk_based").observed_fields is None


@pytest.mark.parametrize("spec", ["standard", "aggressive", OBSERVING], ids=["standard", "aggressive", "observing"])
def test_observing_fewer_fields_changes_no_result(spec):
    waterfall = Waterfall.from_dict(spec) if isinstance(spec, dict) else policies.load(spec)
    pruned = PortfolioModel(Scenario.load("default"), waterfall, n_accounts=2_000, days=90, seed=5)
    full = PortfolioModel(Scenario.load("default"), AllFields(waterfall), n_accounts=2_000, days=90, seed=5)
    assert pruned.observed_fields == waterfall.observed_fields | ENGINE_FIELDS
    assert full.observed_fields == set(OBSERVATION_FIELDS)
    obs = pruned.begin_day()
    assert obs.balance is None
    assert obs.days_since_contact is None
    assert obs.spend_change is None
    assert obs.dpd is not None
    assert obs.past_due is not None
    pruned.finish_day(waterfall.decide(obs))
    pruned.run()
    full.run()
    assert full.contacts_sent.sum() > 1_000, "expected a waterfall that contacts many accounts"
    for name in ("paid", "balance", "contacts_sent", "status", "complaints", "last_contact", "blocked_by_account"):
        np.testing.assert_array_equal(getattr(pruned, name), getattr(full, name), err_msg=name)
    assert pruned.daily_frame().equals(full.daily_frame())


def test_unknown_observed_field_is_rejected():
    policy = AllFields(policies.load("standard"))
    policy.observed_fields = {"dpd", "debtor_type"}
    with pytest.raises(ValueError, match=r"unknown observation fields \['debtor_type'\]"):
        PortfolioModel(Scenario.load("default"), policy, n_accounts=10, days=2, seed=0)


def test_split_observes_union_of_arms():
    standard, observing = policies.load("standard"), Waterfall.from_dict(OBSERVING)
    split = ChampionChallenger("s", {"a": (standard, 0.5), "b": (observing, 0.5)})
    assert split.observed_fields == observing.observed_fields
    with_score = ChampionChallenger("t", {"a": (standard, 0.5), "b": (policies.load("risk_based"), 0.5)})
    assert with_score.observed_fields is None


def test_features_need_every_field():
    model = PortfolioModel(Scenario.load("default"), policies.load("standard"), n_accounts=50, days=3, seed=0)
    obs = model.begin_day()
    with pytest.raises(ValueError, match=r"lacks cycles_past_due, balance, .*call model.observe\(day\)"):
        feature_matrix(obs)
    assert feature_matrix(model.observe(model.day)).shape == (50, len(FEATURE_NAMES))


def test_action_mask_on_pruned_observation():
    # A policy that declares its fields may still ask the model which actions the guard allows.
    model = PortfolioModel(Scenario.load("default"), policies.load("standard"), n_accounts=500, days=40, seed=2)
    for _ in range(30):
        model.step()
    pruned = model.begin_day()
    assert pruned.balance is None
    mask = model.action_mask(pruned)
    np.testing.assert_array_equal(mask, model.action_mask(model.observe(model.day)))
    assert not mask.all(), "expected the guard to forbid some actions by day 30"


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("nosuch.yaml", "'nosuch.yaml': file not found"),
        ("early_warn", "'early_warn': no shipped score of that name; shipped: early_warning"),
    ],
)
def test_bad_score_named_in_error(tmp_path, score, message):
    path = tmp_path / "wf.yaml"
    path.write_text(
        f"name: wf\nscore: {score}\nstages:\n  - dpd: [1, 10]\n    segment: {{risk_score: [0.5, null]}}\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as caught:
        Waterfall.from_yaml(path)

    assert caught.value.source == str(path)
    assert caught.value.key_path == "score"
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize("name", sorted(shipped_waterfalls()))
def test_shipped_risk_bands_leave_no_gap(name):
    """At every DPD, the risk-score bands of a shipped waterfall's stages cover every float from 0 to 1.

    Bands are closed at both ends, so two bands meet without a gap only when one ends at the largest float below the
    other's start: [null, 0.199999] and [0.2, null] left scores in between without any action.
    """
    stages = [stage for stage in policies.load(name).spec.stages if stage.segment.risk_score is not None]
    for dpd in range(180):
        bands = sorted(stage.segment.bands()["risk_score"] for stage in stages if stage.dpd[0] <= dpd <= stage.dpd[1])
        if not bands:
            continue
        assert bands[0][0] <= 0.0, f"{name}: scores below {bands[0][0]} at DPD {dpd} match no stage"
        for (_, high), (low, _) in zip(bands, bands[1:], strict=False):
            assert low <= np.nextafter(high, np.inf), (
                f"{name}: scores between {high} and {low} at DPD {dpd} match no stage"
            )
        assert bands[-1][1] >= 1.0, f"{name}: scores above {bands[-1][1]} at DPD {dpd} match no stage"


def test_shipped_names_ignore_current_directory(tmp_path, monkeypatch):
    # Files and folders that share a shipped name must not change what the name loads.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    (tmp_path / "standard").write_text("name: not_standard\nstages: [{dpd: [1, 179]}]\n")
    (tmp_path / "random").write_text("not a policy\n")
    (tmp_path / "early_warning").mkdir()

    assert Scenario.load("default").name == "default"
    assert policies.load("standard").name == "standard"
    assert policies.load("random").name == "random"
    assert policies.load("risk_based").score is not None


def test_dot_slash_path_loads_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "standard").write_text("name: local_standard\nstages: [{dpd: [1, 179]}]\n")

    assert policies.load("./standard").name == "local_standard"
