"""Register arrears' Gymnasium environment ids when Gymnasium is imported, so that
``gymnasium.make("arrears/Account-v0")`` works after install with no import of ours.

Gymnasium before 1.0 loaded third-party environments from the ``gymnasium.envs`` entry-point group, which
``pyproject.toml`` declares (:func:`register_envs`). Gymnasium 1.0 removed that plugin system. To keep the contract,
the install puts ``arrears-gymnasium.pth`` into site-packages, and Python runs its one line, ``import
arrears_gymnasium``, at start-up. This module imports only the standard library at that point. It puts a finder at
the front of ``sys.meta_path`` that waits for the first ``import gymnasium``, lets Gymnasium load as usual, then
registers the ids and removes itself. The ids name their classes as ``module:Class`` strings, so ``sim`` is
imported only when ``gymnasium.make`` builds an environment.

Set ``ARREARS_NO_GYMNASIUM_HOOK=1`` to skip the finder; ``import sim.envs`` then registers the ids.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: The id of the single-account environment and its vector form.
ACCOUNT_ENV_ID = "arrears/Account-v0"

#: Environment id -> keyword arguments of ``gymnasium.register``.
ENV_SPECS: dict[str, dict[str, str]] = {
    ACCOUNT_ENV_ID: {
        "entry_point": "sim.envs.account:AccountEnv",
        "vector_entry_point": "sim.envs.vector:AccountVectorEnv",
    },
}


def register_envs() -> None:
    """Register every id of :data:`ENV_SPECS` with Gymnasium; ids already registered are left as they are."""
    import gymnasium

    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, **kwargs)


class _RegisteringLoader(importlib.abc.Loader):
    """Gymnasium's own loader, followed by :func:`register_envs` once the package has run."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # Give the module its real loader back, so code that inspects it later gets that loader, not this wrapper.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        try:
            register_envs()
        except Exception as error:  # a failure here must not break `import gymnasium`
            warnings.warn(
                f"arrears could not register its Gymnasium environments ({error}); `import sim.envs` registers them",
                RuntimeWarning,
                stacklevel=2,
            )


class _GymnasiumImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of the ``gymnasium`` package that the other finders find."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "gymnasium":
            return None
        # With this finder off the path, the usual search finds Gymnasium's own spec.
        uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


_FINDER = _GymnasiumImportFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path``, unless Gymnasium is already imported or the user opted out."""
    if os.environ.get("ARREARS_NO_GYMNASIUM_HOOK"):
        return
    if "gymnasium" in sys.modules:
        register_envs()
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Take the finder off ``sys.meta_path``; it is needed for the first ``import gymnasium`` only."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


install()
