"""Experiment configs: which scenarios, which policies, how many seeds, accounts and days; validated with pydantic.

A config names one scenario (``scenario``) or a list (``scenarios``), and may sweep one scenario parameter, so a run
is the grid scenarios × policies × seeds.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import policies
from policies.split import first_empty_arm
from sim.errors import (
    KEY_PATH_PATTERN,
    NAME_PATTERN,
    ConfigError,
    config_error_from_validation,
    short_repr,
    short_text,
)
from sim.scenario import OTHER_KINDS, SafeName, Scenario, load_yaml_mapping

MAX_SEEDS = 10_000
MAX_SCENARIOS = 1_000

#: The shipped configs (baseline.yaml, grid.yaml, rl/ALGO.yaml) of a non-editable install: pyproject.toml puts configs/
#: into arrears_configs/ beside the packages. An editable install has a copy there too, but beside its packages, in
#: the checkout, there is none, so it reads the checkout's configs/.
PACKAGED_CONFIGS_DIR = Path(__file__).resolve().parents[1] / "arrears_configs"
#: The same configs at the top of a source checkout, which an editable install and a plain checkout read.
CHECKOUT_CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


def shipped_configs_dir() -> Path:
    """Return the folder of the shipped configs: that of a non-editable install, else that of the source checkout."""
    return PACKAGED_CONFIGS_DIR if PACKAGED_CONFIGS_DIR.is_dir() else CHECKOUT_CONFIGS_DIR


def installed_from_wheel() -> bool:
    """Return whether this module is a copy that a non-editable install put into site-packages.

    Such an install lists the module in its RECORD. An editable install lists only its import hook, and a checkout
    on ``sys.path`` without an install has no distribution, so both return False. Commands use this to refuse to
    write into the installed package, such as calibrate --uci's default output, the shipped default scenario.
    """
    try:
        distribution = metadata.distribution("arrears")
    except metadata.PackageNotFoundError:
        return False
    this_module = Path(__file__).resolve()
    for file in distribution.files or []:
        if file.name == this_module.name and Path(str(distribution.locate_file(file))).resolve() == this_module:
            return True
    return False


class SplitSpec(BaseModel):
    """A champion/challenger test inside one portfolio: accounts assigned at random to policies by share."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

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


class SweepSpec(BaseModel):
    """One scenario parameter set to each of several values; every scenario of the grid runs with each value."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    parameter: str = Field(
        pattern=KEY_PATH_PATTERN,
        description="Dotted key path of a scenario parameter, such as call_center.agents; list items by index.",
    )
    values: Annotated[list[Any], Field(min_length=1, max_length=MAX_SCENARIOS)] = Field(
        description="The values to run, in order. Each makes a scenario named like default[call_center.agents=5]."
    )

    @field_validator("values")
    @classmethod
    def _unique_values(cls, values: list[Any]) -> list[Any]:
        seen: set[bytes] = set()
        memo: dict[int, bytes] = {}
        for value in values:
            digest = _json_digest(value, memo, set())
            if digest in seen:
                raise ValueError(f"value {short_repr(value)} is listed twice")
            seen.add(digest)
        return values


def _json_digest(value: Any, memo: dict[int, bytes], open_ids: set[int]) -> bytes:
    """Return a SHA-256 digest of ``value`` that is equal for two values exactly when their JSON texts are equal.

    The digest of a list or mapping is built from its items' digests, memoised by object id. A value that repeats one
    list through YAML aliases therefore costs as much as its distinct objects, not as much as its JSON text, which a
    few hundred bytes of aliases can make gigabytes long. ``open_ids`` contains the lists and mappings being digested,
    to reject one that contains itself.
    """
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, list | dict):
        if id(value) in open_ids:
            raise ValueError("a value contains itself through a YAML alias")
        open_ids.add(id(value))
        if isinstance(value, list):
            parts = [b"list", *(_json_digest(item, memo, open_ids) for item in value)]
        else:
            # JSON turns every key into text, as json.dumps does: 1 into "1" and True into "true".
            items = sorted(
                (key if isinstance(key, str) else json.dumps(key, default=repr), item) for key, item in value.items()
            )
            parts = [b"dict"]
            for key, item in items:
                parts += [hashlib.sha256(key.encode()).digest(), _json_digest(item, memo, open_ids)]
        open_ids.discard(id(value))
        digest = hashlib.sha256(b"".join(parts)).digest()
        memo[id(value)] = digest
        return digest
    # A scalar. YAML also gives dates and bytes, which JSON has no type for, so their type and repr identify them.
    text = (
        json.dumps(value) if value is None or isinstance(value, bool | int | float | str) else f"{type(value)}{value!r}"
    )
    return hashlib.sha256(b"scalar" + text.encode()).digest()


class ExperimentConfig(BaseModel):
    """One experiment: every policy runs on the same portfolios (one per seed), so differences are paired."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)] = Field(
        description="ASCII letters, digits, '_', '.' and '-', starting with a letter or digit; names the run directory."
    )
    description: str = ""
    scenario: str = Field(
        default="default", description="A shipped scenario name or a scenario YAML path. Give this or 'scenarios'."
    )
    scenarios: Annotated[list[str], Field(min_length=1, max_length=MAX_SCENARIOS)] | None = Field(
        default=None, description="Several shipped scenario names or scenario YAML paths. Give this or 'scenario'."
    )
    sweep: SweepSpec | None = Field(
        default=None, description="One scenario parameter and its values, which multiply the scenarios."
    )
    policies: Annotated[list[str], Field(min_length=1)] = Field(
        description="Shipped policy names, waterfall YAML paths or model zips (arrears train); each runs on every seed."
    )
    # resolve() checks the champion, because it may name a policy by its name, which only loading the policy gives.
    champion: str | None = Field(
        default=None,
        description="The current strategy, as listed under 'policies' or by its policy's name; the first policy if "
        "absent.",
    )
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
    scenario_parameters: dict[str, Any] | list[dict[str, Any]] | None = Field(
        default=None,
        description="Every scenario parameter as run: a mapping for one scenario, a list of mappings for a grid. "
        "When present it alone defines the scenarios, and 'scenario', 'scenarios' and 'sweep' are only a record.",
    )

    @field_validator("policies")
    @classmethod
    def _unique_policies(cls, names: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"policy {short_repr(name)} is listed twice")
            seen.add(name)
        return names

    @field_validator("scenarios")
    @classmethod
    def _unique_scenarios(cls, specs: list[str] | None) -> list[str] | None:
        for i, spec in enumerate(specs or []):
            if spec in specs[:i]:
                raise ValueError(f"scenario {short_repr(spec)} is listed twice")
        return specs

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
    def _one_scenario_key(self) -> ExperimentConfig:
        if self.scenarios is not None and "scenario" in self.model_fields_set and self.scenario_parameters is None:
            raise ValueError("give either 'scenario' (one name or path) or 'scenarios' (a list), not both")
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def champion_policy(self) -> str:
        return self.champion or self.policies[0]

    @property
    def scenario_specs(self) -> list[str]:
        """The scenario names or paths as given, before the sweep: ``scenarios``, else ``[scenario]``."""
        return list(self.scenarios) if self.scenarios is not None else [self.scenario]


class LoadedExperiment(BaseModel):
    """An experiment config with its scenarios and policies loaded and checked."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: ExperimentConfig
    source: str
    scenarios: list[Scenario]
    """Every scenario of the grid in run order, sweep variants included; their names are unique."""
    policy_specs: dict[str, str]
    """Policy name (as reported) → the spec that :func:`policies.load` resolves (a name or an absolute path)."""
    split_specs: dict[str, dict[str, tuple[str, float]]] = {}
    """Split name → arm policy name → (resolved spec, share)."""

    @property
    def scenario(self) -> Scenario:
        """The first scenario of the grid (the only one unless the config names several or sweeps)."""
        return self.scenarios[0]

    def with_overrides(self, seeds: int | None = None) -> LoadedExperiment:
        if seeds is None:
            return self
        config = self.config.model_copy(update={"seeds": seeds})
        _check_arms_get_accounts(config, self.split_specs, self.source)
        return self.model_copy(update={"config": config})

    def resolved_dict(self) -> dict[str, Any]:
        """Return the config as run: seeds expanded, champion named, scenario parameters in full.

        ``scenario`` is the scenario's name, or for a grid its scenario names joined by commas, because readers of a
        run directory (the report) expect one label, the one that metrics.parquet and manifest.json use; a scenario
        YAML without a ``name`` of its own takes the name of the scenario it extends. ``scenario_parameters`` is
        authoritative.
        """
        data = self.config.model_dump(mode="json")
        data["seeds"] = self.config.seed_list
        data["champion"] = self.config.champion_policy
        data["policies"] = list(self.policy_specs)
        data["policy_sources"] = dict(self.policy_specs)
        parameters = [scenario.model_dump(mode="json") for scenario in self.scenarios]
        data["scenario"] = ", ".join(scenario.name for scenario in self.scenarios)
        data["scenario_parameters"] = parameters if len(parameters) > 1 else parameters[0]
        for key in ("scenarios", "sweep"):
            if data[key] is None:
                del data[key]
        data["splits"] = [
            {"name": name, "arms": {spec: share for spec, share in arms.values()}}
            for name, arms in self.split_specs.items()
        ]
        return data


def _resolve_path(spec: str, base: Path) -> str:
    """Resolve a spec that looks like a YAML or model zip path relative to the config file's folder; keep names."""
    if Path(spec).suffix.lower() in (".yaml", ".yml", ".zip"):
        path = Path(spec)
        return str(path if path.is_absolute() else (base / path).resolve())
    return spec


def json_sha256(value: Any) -> str:
    """Return the SHA-256 of ``value``'s JSON with sorted keys, the hash of configs, settings and cell keys.

    The keys are sorted, so a resolved config read back from a run directory's config.yaml hashes to the
    ``config_sha256`` that its manifest.json records.
    """
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class _ConfigDumper(yaml.SafeDumper):
    """yaml.SafeDumper that writes a string containing U+0085 (NEL) in double quotes, escaped as ``\\N``.

    PyYAML 6 writes NEL unescaped in a single-quoted string, and its loader reads it back as a line break folded
    into a space, so the text that config.yaml held would no longer hash to the manifest's config_sha256.
    """

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if "\x85" in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)


_ConfigDumper.add_representer(str, _ConfigDumper.represent_str)


def config_yaml(resolved: dict[str, Any]) -> str:
    """Return a resolved config as the YAML text of a run directory's config.yaml, which reads back unchanged."""
    return yaml.dump(resolved, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True)


def load_config(path: str | Path) -> LoadedExperiment:
    """Load and validate an experiment config; raise :class:`ConfigError` naming the file and key on bad input.

    A file of another kind (a scenario, a waterfall, a training config or a score) is named as such. Of several
    errors, an unknown key that is a near miss of an allowed one is reported first, because it usually causes the
    others: 'polices' leaves 'policies' missing.
    """
    path = Path(path)
    source = str(path)
    data = load_yaml_mapping(path)
    _check_is_experiment(data, source)
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc, model=ExperimentConfig) from None
    return resolve(config, source=source, base=path.parent)


#: Top-level keys that an experiment config has and a scenario does not, such as 'policies' and 'seeds'.
_EXPERIMENT_ONLY_KEYS = tuple(key for key in ExperimentConfig.model_fields if key not in Scenario.model_fields)


def detect_kind(data: dict[str, Any]) -> str:
    """Return the kind of a YAML mapping from its top-level keys: experiment, waterfall, training, score or scenario.

    A key that only one kind has decides ('policies', 'stages', 'algo', then ``kind: early_warning`` or a score's
    'coefficients', so that a score with a misspelt kind is still reported as a score). Without one,
    a top-level key that no scenario has and that is closest to a key of an experiment ('polices', 'seeds'), or to
    'stages' or 'algo', decides, so that a misspelt key is reported against the right kind. Anything else is a
    scenario.
    """
    for key, (kind, _) in OTHER_KINDS.items():
        if key in data:
            return kind
    if data.get("kind") == "early_warning" or "coefficients" in data:
        return "score"
    kind_of_key = {key: "experiment" for key in _EXPERIMENT_ONLY_KEYS}
    kind_of_key.update({key: kind for key, (kind, _) in OTHER_KINDS.items()})
    kind_of_key.update({key: "scenario" for key in Scenario.model_fields})
    for key in data:
        if not isinstance(key, str) or key in Scenario.model_fields or key == "extends":
            continue
        closest = difflib.get_close_matches(key, list(kind_of_key), n=1)
        if closest and kind_of_key[closest[0]] != "scenario":
            return kind_of_key[closest[0]]
    return "scenario"


def _check_is_experiment(data: dict[str, Any], source: str) -> None:
    """Raise :class:`ConfigError` when ``data`` is a scenario, a waterfall, a training config or a score."""
    kind = detect_kind(data)
    if kind == "experiment":
        return
    if kind == "scenario":
        reason = "is a scenario (it has no 'policies'), not an experiment config; name it as an experiment's 'scenario'"
    elif kind == "score":
        reason = "is an early-warning score, not an experiment config; name it as 'score' in a waterfall"
    else:
        marker, description = next((key, text) for key, (name, text) in OTHER_KINDS.items() if name == kind)
        reason = f"is {description} (it has '{marker}'), not an experiment config"
        if kind == "waterfall":
            reason += "; list it under 'policies' in an experiment"
        else:
            reason += "; pass it to arrears train --config"
    raise ConfigError(source, "", reason)


def resolve(config: ExperimentConfig, source: str = "<config>", base: Path | None = None) -> LoadedExperiment:
    """Load the scenario and every policy of ``config``, so that a bad name fails before any simulation runs."""
    base = base or Path.cwd()
    scenarios = _load_scenarios(config, source, base)

    sources = config.policy_sources or {}
    for name in sources:
        if name not in config.policies:
            raise ConfigError(
                source,
                f"policy_sources.{name}",
                "names no policy in 'policies' (" + ", ".join(short_text(p) for p in config.policies) + "); remove it",
            )
    specs: dict[str, str] = {}
    for i, spec in enumerate(config.policies):
        written = sources.get(spec, spec)
        resolved = _resolve_path(written, base)
        key = f"policy_sources.{spec}" if spec in sources else f"policies[{i}]"
        try:
            policy = _load_policy(resolved)
        except ConfigError as exc:
            raise _policy_error(exc, source, key, written, resolved) from None
        if policy.name in specs:
            raise ConfigError(
                source, f"policies[{i}]", f"two policies are named {short_repr(policy.name)}; names must be unique"
            )
        if resolved != policy.name and policy.name in policies.shipped_policies():
            warnings.warn(
                f"{source}: {key}: {short_repr(written)} names its policy {short_repr(policy.name)}, the name of a "
                "shipped policy, so the report cannot tell which of the two ran; give it a name of its own",
                UserWarning,
                stacklevel=2,
            )
        specs[policy.name] = resolved

    champion = config.champion_policy
    if champion not in specs:
        # The champion may be given by its file path (the first policy's path when no champion is named); report
        # it under its policy name.
        by_spec = {spec: name for name, spec in specs.items()}
        resolved_champion = _resolve_path(champion, base)
        if resolved_champion not in by_spec:
            raise ConfigError(
                source,
                "champion",
                f"{short_repr(champion)} is not one of the policies: " + ", ".join(short_text(name) for name in specs),
            )
        champion = by_spec[resolved_champion]
    # From here on policies go by name, with their files in policy_sources, as in a run directory's config.yaml.
    config = config.model_copy(update={"champion": champion, "policies": list(specs), "policy_sources": dict(specs)})
    splits: dict[str, dict[str, tuple[str, float]]] = {}
    for i, split in enumerate(config.splits):
        if split.name in specs or split.name in splits:
            raise ConfigError(
                source, f"splits[{i}].name", f"{short_repr(split.name)} is already the name of a policy or split"
            )
        arms: dict[str, tuple[str, float]] = {}
        for spec, share in split.arms.items():
            resolved = _resolve_path(spec, base)
            try:
                policy = _load_policy(resolved)
            except ConfigError as exc:
                raise _policy_error(exc, source, f"splits[{i}].arms.{spec}", spec, resolved) from None
            if policy.name in arms:
                raise ConfigError(source, f"splits[{i}].arms", f"two arms are named {short_repr(policy.name)}")
            arms[policy.name] = (resolved, share)
        splits[split.name] = arms
    _check_arms_get_accounts(config, splits, source)
    return LoadedExperiment(config=config, source=source, scenarios=scenarios, policy_specs=specs, split_specs=splits)


def _load_policy(resolved: str):
    """Load the policy ``resolved`` names, a learned policy with its weights, so that damaged weights fail here.

    A learned policy otherwise unpickles its model only when a simulation binds it, after the run directory is
    created and other cells have run.
    """
    policy = policies.load(resolved)
    load_model = getattr(policy, "load_model", None)
    if load_model is not None:
        load_model()
    return policy


def _policy_error(exc: ConfigError, source: str, key_path: str, spec: str, resolved: str) -> ConfigError:
    """Return the error to raise when the policy ``spec`` at ``key_path`` of the config ``source`` fails to load.

    An unknown name or a missing policy file is a mistake in the config, so the error names the config. A mistake
    inside the policy's own file, or in a file that it names (a waterfall's score), keeps the error of that file.
    """
    if exc.key_path == "policy":
        return ConfigError(source, key_path, f"{short_repr(spec)}: {exc.message}")
    if exc.source == resolved and exc.message == "file not found":
        return ConfigError(source, key_path, f"{short_repr(spec)}: waterfall file not found")
    return _referenced_file_error(exc, source, key_path, spec, resolved)


def _referenced_file_error(exc: ConfigError, source: str, key_path: str, spec: str, resolved: str) -> ConfigError:
    """Return ``exc``, or, when it is about the file ``resolved`` as a whole (a directory, an empty or binary file),
    an error of the config ``source`` at ``key_path``, which names the file as written there."""
    if exc.key_path == "" and exc.source == resolved:
        return ConfigError(source, key_path, f"{short_repr(spec)}: {exc.message}")
    return exc


def _check_arms_get_accounts(
    config: ExperimentConfig, splits: dict[str, dict[str, tuple[str, float]]], source: str
) -> None:
    """Raise :class:`ConfigError` when a split's assignment gives an arm no account on one of the seeds.

    Such an arm would have no metrics, only NaN. ``splits`` maps each split name to its arms, as in
    :attr:`LoadedExperiment.split_specs`, in the order of ``config.splits``.
    """
    for i, split in enumerate(config.splits):
        arms = splits[split.name]
        empty = first_empty_arm({name: share for name, (_, share) in arms.items()}, config.n_accounts, config.seed_list)
        if empty is None:
            continue
        name, seed = empty
        # The arms keep the order of the config's keys, which name the arms by shipped name or path.
        key = list(split.arms)[list(arms).index(name)]
        share = arms[name][1]
        raise ConfigError(
            source,
            f"splits[{i}].arms.{key}",
            f"share {share:g} gives this arm no account on seed {seed} with n_accounts {config.n_accounts}; accounts "
            f"are assigned to arms at random by seed and the arm expects {share * config.n_accounts:.3g} of them, so "
            "raise its share or n_accounts",
        )


def _load_scenarios(config: ExperimentConfig, source: str, base: Path) -> list[Scenario]:
    """Load the grid's scenarios in order, each sweep value after its scenario, and check that names are unique."""
    keyed: list[tuple[str, Scenario]] = []
    if isinstance(config.scenario_parameters, dict):
        keyed.append(("scenario_parameters", _scenario_as_run(config.scenario_parameters, source, "")))
        _check_recorded_names(config, [scenario for _, scenario in keyed], source)
    elif config.scenario_parameters is not None:
        for i, parameters in enumerate(config.scenario_parameters):
            keyed.append((f"scenario_parameters[{i}]", _scenario_as_run(parameters, source, f"[{i}]")))
        _check_recorded_names(config, [scenario for _, scenario in keyed], source)
    else:
        for i, spec in enumerate(config.scenario_specs):
            key = "scenario" if config.scenarios is None else f"scenarios[{i}]"
            resolved = _resolve_path(spec, base)
            try:
                scenario = Scenario.load(resolved)
            except ConfigError as exc:
                if exc.key_path == "scenario":
                    raise ConfigError(source, key, f"{short_repr(spec)}: {exc.message}") from None
                raise _referenced_file_error(exc, source, key, spec, resolved) from None
            if config.sweep is None:
                keyed.append((key, scenario))
            else:
                keyed.extend((key, variant) for variant in sweep_variants(scenario, config.sweep, source))

    names: set[str] = set()
    for i, (key, scenario) in enumerate(keyed):
        if scenario.name in names:
            raise ConfigError(
                source,
                key,
                f"two scenarios are named {short_repr(scenario.name)}{_inherited_name_note(config, i, base)}; "
                "give each scenario YAML its own 'name'",
            )
        names.add(scenario.name)
    return [scenario for _, scenario in keyed]


def _check_recorded_names(config: ExperimentConfig, scenarios: list[Scenario], source: str) -> None:
    """Raise ConfigError when ``scenario`` or ``scenarios`` disagrees with ``scenario_parameters``, which alone
    defines the scenarios of a replayed run.

    Someone who edits ``scenario`` in a run directory's config.yaml would otherwise rerun the recorded scenarios
    without a word. The runner writes ``scenario`` as the scenarios' names joined by commas. In ``scenarios`` only
    shipped names are checked, because a scenario file's ``name`` need not match its file name.
    """
    names = [scenario.name for scenario in scenarios]
    mismatches = []
    if "scenario" in config.model_fields_set and config.scenario != ", ".join(names):
        mismatches.append(("scenario", config.scenario))
    # A sweep's variants are named like default[call_center.agents=5].
    recorded = {name.split("[", 1)[0] for name in names}
    mismatches += [
        (f"scenarios[{i}]", spec)
        for i, spec in enumerate(config.scenarios or [])
        if Path(spec).suffix.lower() not in (".yaml", ".yml") and spec not in recorded
    ]
    if mismatches:
        key, spec = mismatches[0]
        raise ConfigError(
            source,
            key,
            f"is {short_repr(spec)}, but scenario_parameters, which alone defines the scenarios of a replayed run, "
            f"contains {', '.join(names)}; delete scenario_parameters to run {short_repr(spec)}",
        )


def _inherited_name_note(config: ExperimentConfig, index: int, base: Path) -> str:
    """Return a note when scenario ``index`` of the grid is a YAML without a ``name`` of its own.

    Such a scenario takes the name of the scenario it extends, or 'default'. Scenarios from ``scenario_parameters``
    or a sweep, and shipped names, get no note.
    """
    if config.scenario_parameters is not None or config.sweep is not None:
        return ""
    path = Path(_resolve_path(config.scenario_specs[index], base))
    if path.suffix not in (".yaml", ".yml") or "name" in load_yaml_mapping(path):
        return ""
    return f" ({short_text(config.scenario_specs[index])} has no 'name' of its own)"


def _scenario_as_run(parameters: dict[str, Any], source: str, index: str) -> Scenario:
    return Scenario.from_dict(parameters, source=f"{source}: scenario_parameters{index}")


#: Scenario keys that name or describe it without changing what it simulates. Keys under ``calibration`` are too.
_LABELS = ("name", "description", "currency")


def sweep_variants(scenario: Scenario, sweep: SweepSpec, source: str = "<config>") -> list[Scenario]:
    """Return one copy of ``scenario`` per sweep value, named like ``default[call_center.agents=5]``.

    Raise :class:`ConfigError` naming ``sweep.parameter`` when the key path does not exist in the scenario, or
    ``sweep.values[i]`` when a value is invalid there.
    """
    if sweep.parameter in _LABELS or sweep.parameter.split(".")[0] == "calibration":
        raise ConfigError(source, "sweep.parameter", f"{short_repr(sweep.parameter)} is a label, not a model parameter")
    base = scenario.model_dump(mode="json")
    variants = []
    # Values that validate to the same scenario, such as 0 and 0.0 for a number, would run the same cells twice.
    runs: dict[str, int] = {}
    for i, value in enumerate(sweep.values):
        data = copy.deepcopy(base)
        _set_key_path(data, sweep.parameter, value, scenario.name, source)
        try:
            variant = Scenario.model_validate(data)
        except ValidationError as exc:
            error = config_error_from_validation(scenario.name, exc, model=Scenario)
            raise ConfigError(
                source,
                f"sweep.values[{i}]",
                f"{short_text(sweep.parameter)}={short_repr(value)} is invalid in scenario "
                f"{short_repr(scenario.name)}: {error.key_path}: {error.message}",
            ) from None
        same = runs.setdefault(variant.model_dump_json(), i)
        if same != i:
            raise ConfigError(
                source,
                f"sweep.values[{i}]",
                f"{short_repr(value)} gives the same scenario as sweep.values[{same}] "
                f"{short_repr(sweep.values[same])}; list each value once",
            )
        # Named only once valid, because the name writes the value out in full.
        name = f"{scenario.name}[{sweep.parameter}={format_sweep_value(value)}]"
        variants.append(variant.model_copy(update={"name": name}))
    return variants


def format_sweep_value(value: Any) -> str:
    """Format a sweep value for a scenario name: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _set_key_path(data: dict[str, Any], key_path: str, value: Any, scenario_name: str, source: str) -> None:
    """Set ``data`` at a dotted key path whose every key exists; a list item is addressed by its index."""
    parts = key_path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the top level"
        under = f"under {where}" if depth else "at the top level"
        if isinstance(node, dict):
            if part not in node:
                allowed = ", ".join(map(str, node))
                raise ConfigError(
                    source,
                    "sweep.parameter",
                    f"{short_repr(key_path)}: scenario {short_repr(scenario_name)} has no key {short_repr(part)} "
                    f"{under}; allowed: {allowed}",
                )
            slot: Any = part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    source,
                    "sweep.parameter",
                    f"{short_repr(key_path)}: {short_text(where)} is a list of {len(node)} items in scenario "
                    f"{short_repr(scenario_name)}; "
                    f"address an item by its index, 0 to {len(node) - 1}",
                )
            slot = int(part)
        else:
            raise ConfigError(
                source,
                "sweep.parameter",
                f"{short_repr(key_path)}: {short_text(where)} is {short_text(json.dumps(node))} in scenario "
                f"{short_repr(scenario_name)}, so it has no key {short_repr(part)}; set {short_text(where)} in the "
                "scenario YAML first",
            )
        if depth == len(parts) - 1:
            node[slot] = value
        else:
            node = node[slot]
