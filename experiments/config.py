"""Experiment configs: which scenario, which policies, how many seeds, accounts and days; validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import policies
from sim.errors import ConfigError, config_error_from_validation
from sim.scenario import Scenario, load_yaml_mapping

MAX_SEEDS = 10_000
SafeName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class SplitSpec(BaseModel):
    """A champion/challenger test inside one portfolio: accounts assigned at random to policies by share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SafeName
    arms: dict[str, Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        description="Policy (shipped name or waterfall YAML path) to the share of accounts it treats; sums to 1."
    )

    @field_validator("arms")
    @classmethod
    def _shares_sum_to_one(cls, arms: dict[str, float]) -> dict[str, float]:
        if len(arms) < 2:
            raise ValueError("a split needs at least two arms")
        if abs(sum(arms.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {sum(arms.values()):.6f}")
        return arms


class ExperimentConfig(BaseModel):
    """One experiment: every policy runs on the same portfolios (one per seed), so differences are paired."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = Field(
        description="Letters, digits, '_', '.' and '-', starting with a letter or digit; names the run directory."
    )
    description: str = ""
    scenario: str = Field(default="default", description="A shipped scenario name or a scenario YAML path.")
    policies: Annotated[list[str], Field(min_length=1)] = Field(
        description="Shipped policy names or waterfall YAML paths; each runs on every seed."
    )
    champion: str | None = Field(default=None, description="The current strategy; the first policy if absent.")
    seeds: int | list[int] = Field(
        default=10,
        description=f"A count N from 1 to {MAX_SEEDS} (seeds 0..N-1), or a list of distinct seeds from 0 to 2**31 - 1.",
    )
    # NOTE: an estimate from one 10-million-account trial: memory grows by about 1 kB per account and worker.
    n_accounts: Annotated[int, Field(ge=1, le=2_000_000)] = 10_000
    horizon_days: Annotated[int, Field(ge=1, le=3650)] = 180
    splits: list[SplitSpec] = Field(
        default_factory=list,
        description="Champion/challenger tests inside one portfolio; each reports the whole and each arm.",
    )
    # Written by the runner into a run directory's config.yaml, so that the run can be validated and replayed.
    policy_sources: dict[str, str] | None = Field(
        default=None, description="Policy name to the shipped name or file it was loaded from."
    )
    scenario_parameters: dict[str, Any] | None = Field(
        default=None, description="Every scenario parameter as run; when present it is used instead of 'scenario'."
    )

    @field_validator("policies")
    @classmethod
    def _unique_policies(cls, names: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"policy {name!r} is listed twice")
            seen.add(name)
        return names

    @field_validator("seeds")
    @classmethod
    def _seeds_in_range(cls, seeds: int | list[int]) -> int | list[int]:
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEEDS:
                raise ValueError(f"a seed count must be from 1 to {MAX_SEEDS}, got {seeds}")
            return seeds
        if not seeds:
            raise ValueError("needs at least one seed")
        bad = [seed for seed in seeds if not 0 <= seed < 2**31]
        if bad:
            raise ValueError(f"seeds must be from 0 to 2**31 - 1, got {bad[0]}")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be unique")
        if len(seeds) > MAX_SEEDS:
            raise ValueError(f"at most {MAX_SEEDS} seeds, got {len(seeds)}")
        return seeds

    @model_validator(mode="after")
    def _champion_is_a_policy(self) -> ExperimentConfig:
        if self.champion is not None and self.champion not in self.policies:
            raise ValueError(f"champion {self.champion!r} must be one of the policies: {', '.join(self.policies)}")
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def champion_policy(self) -> str:
        return self.champion or self.policies[0]


class LoadedExperiment(BaseModel):
    """An experiment config with its scenario and policies loaded and checked."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: ExperimentConfig
    source: str
    scenario: Scenario
    policy_specs: dict[str, str]
    split_specs: dict[str, dict[str, tuple[str, float]]] = {}
    """Split name → arm policy name → (resolved spec, share)."""
    """Policy name (as reported) → the spec that :func:`policies.load` resolves (a name or an absolute path)."""

    def with_overrides(self, seeds: int | None = None) -> LoadedExperiment:
        if seeds is None:
            return self
        config = self.config.model_copy(update={"seeds": seeds})
        return self.model_copy(update={"config": config})

    def resolved_dict(self) -> dict[str, Any]:
        """Return the config as run: seeds expanded, champion named, scenario parameters in full."""
        data = self.config.model_dump(mode="json")
        data["seeds"] = self.config.seed_list
        data["champion"] = self.config.champion_policy
        data["policies"] = list(self.policy_specs)
        data["policy_sources"] = dict(self.policy_specs)
        data["scenario_parameters"] = self.scenario.model_dump(mode="json")
        data["splits"] = [
            {"name": name, "arms": {spec: share for spec, share in arms.values()}}
            for name, arms in self.split_specs.items()
        ]
        return data


def _resolve_path(spec: str, base: Path) -> str:
    """Resolve a spec that looks like a YAML path relative to the config file's folder; keep names as they are."""
    if spec.endswith((".yaml", ".yml")):
        path = Path(spec)
        return str(path if path.is_absolute() else (base / path).resolve())
    return spec


def load_config(path: str | Path) -> LoadedExperiment:
    """Load and validate an experiment config; raise :class:`ConfigError` naming the file and key on bad input."""
    path = Path(path)
    source = str(path)
    data = load_yaml_mapping(path)
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc, model=ExperimentConfig) from None
    return resolve(config, source=source, base=path.parent)


def resolve(config: ExperimentConfig, source: str = "<config>", base: Path | None = None) -> LoadedExperiment:
    """Load the scenario and every policy of ``config``, so that a bad name fails before any simulation runs."""
    base = base or Path.cwd()
    if config.scenario_parameters is not None:
        scenario = Scenario.from_dict(config.scenario_parameters, source=f"{source}: scenario_parameters")
    else:
        try:
            scenario = Scenario.load(_resolve_path(config.scenario, base))
        except ConfigError as exc:
            if exc.key_path == "scenario":
                raise ConfigError(source, "scenario", f"{config.scenario!r}: {exc.message}") from None
            raise

    specs: dict[str, str] = {}
    for i, spec in enumerate(config.policies):
        resolved = _resolve_path((config.policy_sources or {}).get(spec, spec), base)
        try:
            policy = policies.load(resolved)
        except ConfigError as exc:
            if exc.key_path == "policy":
                raise ConfigError(source, f"policies[{i}]", f"{spec!r}: {exc.message}") from None
            if exc.message == "file not found":
                raise ConfigError(source, f"policies[{i}]", f"{spec!r}: waterfall file not found") from None
            raise
        if policy.name in specs:
            raise ConfigError(source, f"policies[{i}]", f"two policies are named {policy.name!r}; names must be unique")
        specs[policy.name] = resolved

    champion = config.champion_policy
    if champion not in specs:
        # The champion may be given by its file path; report it under its policy name.
        by_spec = {spec: name for name, spec in specs.items()}
        resolved_champion = _resolve_path(champion, base)
        if resolved_champion not in by_spec:
            raise ConfigError(source, "champion", f"{champion!r} is not one of the policies: {', '.join(specs)}")
        config = config.model_copy(update={"champion": by_spec[resolved_champion]})
    elif config.champion is None:
        config = config.model_copy(update={"champion": champion})
    splits: dict[str, dict[str, tuple[str, float]]] = {}
    for i, split in enumerate(config.splits):
        if split.name in specs or split.name in splits:
            raise ConfigError(source, f"splits[{i}].name", f"{split.name!r} is already the name of a policy or split")
        arms: dict[str, tuple[str, float]] = {}
        for spec, share in split.arms.items():
            resolved = _resolve_path(spec, base)
            try:
                policy = policies.load(resolved)
            except ConfigError as exc:
                raise ConfigError(source, f"splits[{i}].arms.{spec}", exc.message) from None
            if policy.name in arms:
                raise ConfigError(source, f"splits[{i}].arms", f"two arms are named {policy.name!r}")
            arms[policy.name] = (resolved, share)
        splits[split.name] = arms
    return LoadedExperiment(config=config, source=source, scenario=scenario, policy_specs=specs, split_specs=splits)
