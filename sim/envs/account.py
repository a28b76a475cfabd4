"""``arrears/Account-v0``: one delinquent account of a scenario, one simulated day per step."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim.behaviour import Behaviour
from sim.catalogue import N_ACTIONS
from sim.engine import PortfolioModel
from sim.envs.episodes import AccountEpisodes
from sim.envs.reward import RewardFunction, reward_or_default
from sim.features import FEATURE_HIGH, FEATURE_LOW
from sim.scenario import Scenario

#: Largest portfolio seed: random draws are keyed by a 63-bit seed.
MAX_SEED = 2**63 - 1
#: Largest account id: ids are int64.
MAX_ACCOUNT_ID = 2**63 - 1


def next_account_ids(first: int, count: int) -> np.ndarray:
    """Return the ``count`` account ids from ``first`` on, or raise ValueError when they pass :data:`MAX_ACCOUNT_ID`."""
    if first + count - 1 > MAX_ACCOUNT_ID:
        raise ValueError(
            f"no account id is left after {MAX_ACCOUNT_ID} (2**63 - 1); reset with a new seed, or pick an account "
            "with options={'account_id': k}"
        )
    return np.arange(first, first + count, dtype=np.int64)


def load_scenario(scenario: Scenario | str) -> Scenario:
    """Return ``scenario`` itself, or load a shipped scenario by name or a scenario YAML by path."""
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, str | os.PathLike):
        raise TypeError(
            f"scenario must be a Scenario, a shipped scenario's name or a scenario YAML's path, got {scenario!r}"
        )
    return Scenario.load(scenario)


def check_render_mode(render_mode: str | None) -> None:
    """Raise ValueError unless ``render_mode`` is None: the environments have no render modes."""
    if render_mode is not None:
        raise ValueError(
            f"render_mode must be None, got {render_mode!r}: Account-v0 has no render modes (metadata['render_modes'] "
            "is empty); inspect info or env.unwrapped.model instead"
        )


def check_reset_seed(seed: int | None) -> int | None:
    """Return ``seed`` as a Python int, or None; raise ValueError unless it is a whole number from 0 to
    :data:`MAX_SEED`.

    A reset calls it before it changes anything, its ``np_random`` included, because a stored bad seed would make
    every later ``reset()`` without a seed fail too. A numpy integer is accepted, and Gymnasium, which takes only a
    Python int, receives it converted. A bool is rejected, although Python counts it as an int.
    """
    if seed is None:
        return None
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return int(seed)


def portfolio_seed_for_reset(seed: int | None, current: int | None, np_random: np.random.Generator) -> int | None:
    """Return the portfolio seed a reset starts, or None to continue the current one with its next accounts.

    A seed given to ``reset`` (checked by :func:`check_reset_seed`) starts that portfolio; an environment never
    seeded draws one from ``np_random``.
    """
    if seed is not None:
        return int(seed)
    if current is None:
        return int(np_random.integers(0, MAX_SEED))
    return None


def check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days of at least 1, got {horizon!r}")
    return int(horizon)


class AccountEnv(gym.Env[np.ndarray, np.int64]):
    """One delinquent account of a collections portfolio, treated one day at a time.

    ## Description

    The account is one agent of the arrears portfolio model (:class:`sim.engine.PortfolioModel`): a card,
    instalment loan or B2B invoice in arrears, drawn from a scenario (by default the shipped ``default`` scenario,
    calibrated on the UCI Taiwan card data). Each step is one day. At 08:00 the agent observes what a lender's systems
    hold about the account and picks one treatment from the action catalogue. The model then runs the rest of the
    day: the compliance guard, contacts and the call centre's shift, the debtor's decisions, interest and fees,
    aging and charge-off. The next observation is the following day's, after its 00:00 statement. The debtor's
    type, ability and willingness to pay stay hidden.

    Account ``k`` of seed ``s`` is account ``k`` of ``sim.simulate(scenario, ..., seed=s)`` on the same scenario:
    its random draws are keyed by (seed, account id, day, purpose), so the environment and a portfolio run share
    common random numbers. Calls are the exception: here the account has the call centre to itself, while in a
    portfolio run its calls compete with other accounts' for agents, so an account that is called can fare
    differently.

    ## Action Space

    ``Discrete(37)``: an index into :data:`sim.catalogue.ACTIONS`. It is 0 for no action, then an email,
    SMS, letter or call in each of six framings, agency placement, settlement offers of 10, 25, 40 or 50% off, plan
    offers of 3, 6 or 12 instalments, a hardship hold, sale, write-off and a portal link by SMS.

    Every action is accepted, but the compliance guard turns a forbidden one into no action and counts it as
    blocked. It forbids a contact during a hardship hold, during a dispute or after a request to stop, an eighth
    call attempt in 7 days, a call within 7 days of a conversation and a settlement over the cap of the DPD band.
    ``info["action_mask"]`` and :meth:`action_masks` give the allowed actions (no action is always allowed) for
    MaskablePPO of sb3-contrib. On an account placed with an agency, any action becomes no action without being
    counted as blocked, because no rule forbade it, and the mask allows only no action.

    ## Observation Space

    ``Box(FEATURE_LOW, FEATURE_HIGH, (25,), float32)`` from :func:`sim.features.feature_matrix`, observable state
    only:

    | index | feature | meaning | min | max |
    |---|---|---|---|---|
    | 0 | dpd | days past due, capped at 360, / 360 | 0 | 1 |
    | 1 | cycles_past_due | unpaid minimum payments, capped at 12, / 12 | 0 | 1 |
    | 2 | balance | log1p(balance) / log1p(1e6) | 0 | 1 |
    | 3 | past_due | log1p(amount past due) / log1p(1e6) | 0 | 1 |
    | 4 | credit_limit | log1p(credit limit) / log1p(1e6) | 0 | 1 |
    | 5 | utilisation | balance / credit limit, capped at 2, / 2 | 0 | 1 |
    | 6 | days_since_email | days since the last email, capped at 90, / 90 | 0 | 1 |
    | 7 | days_since_sms | days since the last SMS, capped at 90, / 90 | 0 | 1 |
    | 8 | days_since_letter | days since the last letter, capped at 90, / 90 | 0 | 1 |
    | 9 | days_since_call | days since the last call, capped at 90, / 90 | 0 | 1 |
    | 10 | calls_last_7_days | call attempts in the last 7 days / 7 | 0 | 1 |
    | 11 | days_since_conversation | days since the last right-party conversation, capped at 90, / 90 | 0 | 1 |
    | 12 | complaints | complaints so far, capped at 5, / 5 | 0 | 1 |
    | 13 | days_since_statement | days since the last statement / 30 | 0 | 1 |
    | 14 | days_since_payment | days since the last payment, capped at 90, / 90 | 0 | 1 |
    | 15 | paid_since_statement | 1 when a payment arrived since the last statement | 0 | 1 |
    | 16 | portal_logins | portal logins over the last cycle, capped at 10, / 10 | 0 | 1 |
    | 17 | spend_change | change in card spend against the usual | -1 | 1 |
    | 18 | placed_with_agency | 1 when placed with an agency | 0 | 1 |
    | 19 | on_hold | 1 during a hardship hold or breathing space | 0 | 1 |
    | 20 | stop_contact | 1 when the debtor asked to stop contact | 0 | 1 |
    | 21 | hardship_disclosed | 1 when the debtor disclosed hardship | 0 | 1 |
    | 22 | promise_pending | 1 when a promise to pay falls due today or later | 0 | 1 |
    | 23 | on_plan | 1 while repaying on a payment plan | 0 | 1 |
    | 24 | disputed | 1 while a dispute is validated | 0 | 1 |

    ## Rewards

    The ``reward`` argument computes each step's reward from a :class:`~sim.envs.reward.DayOutcome` (the day's
    payments, sale proceeds, contact costs, agency commission and customer value lost, undiscounted). The default,
    :class:`~sim.envs.reward.NetCashReward`, is the day's net cash discounted to the episode's first day at the
    scenario's cost of capital, weighted by the scenario's ``economics``, less ``clv_weight`` times the CLV of a
    customer who closed the account that day. With ``gamma = 1`` the return is the account's share of the
    ``objective`` metric of a portfolio run.

    ## Starting State

    ``reset(seed=s)`` starts account 0 of portfolio seed ``s`` on day 0 (a Monday) at 08:00; each later ``reset()``
    without a seed starts the next account (1, 2, ...) of the same seed, and ``options={"account_id": k}`` picks
    account ``k``. An environment never seeded draws its portfolio seed from ``np_random``. The account's DPD,
    balance, credit limit, billing-cycle day and latent type are drawn from the scenario's portfolio.

    ## Episode End

    The episode terminates when the account leaves the book: paid off, settled, charged off (at the charge-off DPD
    or by a write-off action) or sold. Agency placement does not end it: the agency's payments, net of commission,
    arrive in later steps, in which only no action is allowed. The episode is truncated after ``horizon`` steps.

    ## Arguments

    - ``scenario``: a :class:`~sim.scenario.Scenario`, a shipped scenario name or a scenario YAML path
      (default ``"default"``).
    - ``horizon``: steps (days) before truncation (default 180).
    - ``reward``: a callable from :class:`~sim.envs.reward.DayOutcome` to rewards (default ``NetCashReward()``).
    - ``render_mode``: accepted for Gymnasium's ``make``; the environment renders nothing, so only None is allowed.

    ## Version History

    - v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        scenario: Scenario | str = "default",
        horizon: int = 180,
        reward: RewardFunction | None = None,
        render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode)
        self.render_mode = None
        self.scenario = load_scenario(scenario)
        self.horizon = check_horizon(horizon)
        self.reward = reward_or_default(reward)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        self._behaviour = Behaviour.from_scenario(self.scenario)
        self._portfolio_seed: int | None = None
        self._next_account_id = 0
        self._episodes: AccountEpisodes | None = None
        self._ended = False

    @property
    def model(self) -> PortfolioModel | None:
        """The portfolio model of the current episode (one account), for inspection; None before the first reset."""
        return None if self._episodes is None else self._episodes.model

    @property
    def account_id(self) -> int | None:
        return None if self._episodes is None else int(self._episodes.model.account_ids[0])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        # Every check comes before the environment changes, its np_random included, so that a rejected reset leaves
        # it as it was.
        seed = check_reset_seed(seed)
        options = dict(options or {})
        account_id = options.pop("account_id", None)
        if options:
            raise ValueError(f"unknown reset option {sorted(options)[0]!r}; the only option is 'account_id'")
        if account_id is not None and (
            isinstance(account_id, bool)
            or not isinstance(account_id, int | np.integer)
            or not 0 <= account_id <= MAX_ACCOUNT_ID
        ):
            raise ValueError(f"account_id must be a whole number from 0 to 2**63 - 1, got {account_id!r}")
        super().reset(seed=seed)
        new_seed = portfolio_seed_for_reset(seed, self._portfolio_seed, self.np_random)
        if new_seed is not None:
            self._portfolio_seed, self._next_account_id = new_seed, 0
        if account_id is not None:
            self._next_account_id = int(account_id)

        self._episodes = AccountEpisodes(
            self.scenario,
            self._behaviour,
            self.reward,
            self.horizon,
            seed=self._portfolio_seed,
            account_ids=next_account_ids(self._next_account_id, 1),
            # One day more than the horizon, so the observation after truncation is the next morning's.
            days=self.horizon + 1,
            record_daily=True,
        )
        self._next_account_id += 1
        self._ended = False
        return self._episodes.features()[0], self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._episodes is None:
            raise RuntimeError("call reset() before step()")
        if self._ended:
            raise RuntimeError("the episode has ended; call reset() to start the next account")
        if not self._is_action(action):
            raise ValueError(f"action must be an integer in 0..{N_ACTIONS - 1}, got {action!r}")
        try:
            result = self._episodes.advance(np.array([action], dtype=np.int64))
        except Exception:
            # The day is simulated before the reward function runs. If that day ended the episode, a caller who
            # catches the error must not step past the account's end or the model's last day.
            self._ended = bool(self._episodes.day_ended[0])
            raise
        terminated, truncated = bool(result.terminated[0]), bool(result.truncated[0])
        self._ended = terminated or truncated
        info = self._info()
        info["blocked"] = bool(result.blocked[0])
        info["call_unplaced"] = bool(result.call_unplaced[0])
        return self._episodes.features()[0], float(result.rewards[0]), terminated, truncated, info

    def _is_action(self, action: object) -> bool:
        """Return whether ``action`` is a catalogue index: an integer, a numpy integer or a 0-d integer array."""
        # A bool is an int in Python, and Discrete.contains accepts True as action 1.
        if isinstance(action, bool | np.bool_):
            return False
        # Discrete.contains rejects unsigned numpy integers such as np.uint64(3), which are integers all the same.
        if isinstance(action, int | np.integer):
            return 0 <= action < N_ACTIONS
        return bool(self.action_space.contains(action))

    def action_masks(self) -> np.ndarray:
        """Actions the compliance guard allows today, a boolean array of length N_ACTIONS (for MaskablePPO)."""
        if self._episodes is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._episodes.action_mask()[0]

    def _info(self) -> dict[str, Any]:
        episodes = self._episodes
        return {
            "action_mask": episodes.action_mask()[0],
            "account_id": int(episodes.model.account_ids[0]),
            "day": episodes.day,
            "status": int(episodes.model.status[0]),
        }
