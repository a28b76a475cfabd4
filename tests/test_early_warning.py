"""The early-warning score: trained on simulated histories, it ranks rolls from observable state only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import policies
from experiments.cli import main
from policies import Waterfall
from policies.early_warning import EarlyWarningModel, load_score, roll_history, train
from sim.catalogue import NO_ACTION, contact_action
from sim.engine import PortfolioModel
from sim.errors import ConfigError
from sim.features import FEATURE_NAMES, feature_matrix


@pytest.fixture(scope="module")
def report(default_scenario):
    return train(default_scenario, policies.load("standard"), n_accounts=4_000, days=120, seed=0, holdout_seed=1)


def test_holdout_auc_above_0_7(report):
    assert report.holdout_auc > 0.7


def test_shuffled_features_give_chance_auc(report):
    # About 40,000 held-out snapshots: a chance AUC has a standard error near 0.005.
    assert abs(report.shuffled_auc - 0.5) < 0.03


def test_training_and_holdout_auc_agree(report):
    # A large gap would mean the model memorised accounts rather than learning the signals.
    assert abs(report.training_auc - report.holdout_auc) < 0.03


def test_numpy_score_matches_scikit_learn(default_scenario):
    history = roll_history(default_scenario, policies.load("standard"), 1_000, 60, seed=4)
    model = EarlyWarningModel.fit(history)
    classifier = LogisticRegression(max_iter=5000).fit(history.features.astype(np.float64), history.rolled)
    expected = classifier.predict_proba(history.features.astype(np.float64))[:, 1]
    np.testing.assert_allclose(model.score_features(history.features), expected, rtol=1e-9)


def test_subset_score_equals_full_score(default_scenario):
    # A waterfall scores only the accounts its risk stages reach, so that subset must get the very same scores.
    model = PortfolioModel(default_scenario, policies.load("standard"), 3_000, 30, seed=8)
    for _ in range(20):
        model.step()
    obs = model.observe(model.day)
    score = load_score("early_warning")
    everyone = score.score(obs)
    rng = np.random.default_rng(0)
    for size in (*range(1, 40), 257, 1_001):
        index = np.sort(rng.choice(obs.n_accounts, size, replace=False))
        assert score.score(obs, index).tobytes() == everyone[index].tobytes(), size


class _Snapshots:
    """A do-nothing policy that keeps the observations it receives at 08:00."""

    name = "snapshots"

    def __init__(self) -> None:
        self.seen = {}

    def decide(self, obs):
        self.seen[obs.day] = obs
        return np.zeros(obs.n_accounts, dtype=np.int64)


def test_roll_labels_follow_the_buckets(default_scenario):
    history = roll_history(default_scenario, policies.load("do_nothing"), 2_000, 61, seed=6, every=30)
    snapshots = _Snapshots()
    model = PortfolioModel(default_scenario, snapshots, 2_000, 61, seed=6).run()
    first, later = snapshots.seen[0], snapshots.seen[30]
    accounts = history.account[history.day == 0]
    np.testing.assert_array_equal(accounts, np.flatnonzero(first.active))
    worse = later.cycles_past_due[accounts] > first.cycles_past_due[accounts]
    charged_off = (model.status[accounts] == 2) & (model.resolved_day[accounts] < 30)  # 2: charged off
    np.testing.assert_array_equal(history.rolled[history.day == 0], worse | charged_off)
    assert 0.05 < history.rolled.mean() < 0.3


def test_shipped_score_ranks_new_accounts(default_scenario):
    score = load_score("early_warning")
    history = roll_history(default_scenario, policies.load("standard"), 2_000, 90, seed=21)
    assert score.auc(history) > 0.7
    assert score.metadata["holdout_auc"] > 0.7


def test_score_file_round_trip(tmp_path, report):
    path = report.model.to_yaml(tmp_path / "score.yaml")
    loaded = EarlyWarningModel.from_yaml(path)
    features = np.random.default_rng(0).uniform(size=(50, len(FEATURE_NAMES))).astype(np.float32)
    np.testing.assert_allclose(loaded.score_features(features), report.model.score_features(features), rtol=1e-9)


def test_score_file_in_other_key_order_loads(tmp_path):
    import yaml

    shipped = load_score("early_warning")
    data = shipped.to_dict()
    data["coefficients"] = dict(sorted(data["coefficients"].items()))
    path = tmp_path / "score.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=True))
    features = np.random.default_rng(0).uniform(size=(50, len(FEATURE_NAMES))).astype(np.float32)
    loaded = EarlyWarningModel.from_yaml(path)
    np.testing.assert_array_equal(loaded.score_features(features), shipped.score_features(features))


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (lambda d: d.update(kind="uplift"), "kind", "early_warning"),
        (lambda d: d["coefficients"].pop("dpd"), "coefficients", "refit"),
        (lambda d: d["coefficients"].update(dpd=".nan"), "coefficients.dpd", "finite number"),
        (lambda d: d.update(intercept="high"), "intercept", "finite number"),
    ],
)
def test_bad_score_file_names_the_key(tmp_path, report, edit, key, fragment):
    data = report.model.to_dict()
    data["coefficients"] = dict(data["coefficients"])
    edit(data)
    import yaml

    path = tmp_path / "score.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        EarlyWarningModel.from_yaml(path)
    assert caught.value.key_path == key
    assert fragment in caught.value.message


RISK_SEGMENTED = {
    "name": "by_risk",
    "stages": [
        {"dpd": [1, 179], "segment": {"risk_score": [0.1, None]}, "treatments": [{"channel": "sms", "every": 1}]},
        {
            "dpd": [1, 179],
            "segment": {"risk_score": [None, 0.099999]},
            "treatments": [{"channel": "email", "every": 1}],
        },
    ],
}


def test_risk_segments_route_by_score(default_scenario):
    waterfall = Waterfall.from_dict(RISK_SEGMENTED)
    model = PortfolioModel(default_scenario, policies.load("do_nothing"), 3_000, 40, seed=2)
    for _ in range(35):
        model.step()
    obs = model.observe(model.day)
    score = load_score("early_warning").score(obs)
    actions = waterfall.decide(obs)
    in_range = obs.active & (obs.dpd >= 1) & (obs.dpd <= 179)
    high = in_range & (score >= 0.1)
    low = in_range & (score <= 0.099999)
    assert high.sum() > 20
    assert low.sum() > 20
    assert (actions[high] == contact_action("sms")).all()
    assert (actions[low] == contact_action("email")).all()
    assert (actions[~in_range] == NO_ACTION).all()


def test_pre_due_reminder_fires_on_cycle_day(default_scenario):
    waterfall = Waterfall.from_dict(
        {
            "name": "pre_due",
            "exit": ["paid_since_statement"],
            "stages": [{"dpd": [0, 0], "treatments": [{"channel": "sms", "cycle_day": 24}]}],
        }
    )
    model = PortfolioModel(default_scenario, waterfall, 3_000, 60, seed=3, trace=True).run()
    actions = model.actions_frame()
    assert len(actions) > 0
    assert (actions["dpd"] == 0).all()
    assert (actions["action"] == "sms:neutral").all()
    # Reminders go out 24 days after each account's statement, and only to accounts that had not paid since.
    for row in actions.head(200).itertuples():
        assert (row.day - model.last_statement[row.account]) % 30 == 24


def test_cycle_day_takes_no_start():
    data = {"name": "x", "stages": [{"dpd": [0, 0], "treatments": [{"channel": "sms", "cycle_day": 3, "start": 1}]}]}
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.key_path == "stages[0].treatments[0]"
    assert "cycle_day" in caught.value.message


def test_unknown_score_names_the_key():
    data = {**RISK_SEGMENTED, "score": "no_such_score"}
    with pytest.raises(ConfigError) as caught:
        Waterfall.from_dict(data, source="w.yaml")
    assert caught.value.source == "w.yaml"
    assert caught.value.key_path == "score"
    assert "early_warning" in caught.value.message


def test_exit_on_payment_since_statement(default_scenario):
    model = PortfolioModel(default_scenario, policies.load("do_nothing"), 2_000, 20, seed=8)
    for _ in range(10):
        model.step()
    obs = model.observe(model.day)
    waterfall = Waterfall.from_dict(
        {
            "name": "x",
            "exit": ["paid_since_statement"],
            "stages": [{"dpd": [0, 179], "treatments": [{"channel": "email", "every": 1}]}],
        }
    )
    actions = waterfall.decide(obs)
    paid = obs.active & obs.paid_since_statement
    assert paid.sum() > 20
    assert (actions[paid] == NO_ACTION).all()
    assert (actions[obs.active & ~paid] == contact_action("email")).all()
    np.testing.assert_array_equal(
        feature_matrix(obs)[:, FEATURE_NAMES.index("paid_since_statement")],
        paid | (obs.paid_since_statement & ~obs.active),
    )


def test_fit_score_command_writes_a_usable_score(tmp_path, capsys):
    out = tmp_path / "score.yaml"
    code = main(["fit-score", "--accounts", "1500", "--days", "70", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "AUC" in printed
    score = EarlyWarningModel.from_yaml(out)
    assert score.metadata["n_accounts"] == 1500
    assert score.metadata["holdout_auc"] > 0.6


def test_fit_score_rejects_a_short_history(tmp_path, capsys):
    code = main(["fit-score", "--days", "30", "--out", str(tmp_path / "score.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--days" in err
    assert not (tmp_path / "score.yaml").exists()


def test_list_shows_score_based_policies(capsys):
    assert main(["list"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("policy")]
    for name in ("risk_based", "uplift_calls", "random_calls"):
        assert name in names
