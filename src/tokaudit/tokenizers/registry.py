"""Discovery of tokenizer plugins through the ``tokaudit.tokenizers`` entry-point group.

Third-party plugins register the same way as the built-in one. A plugin that fails to
import or start is reported in ``Registry.broken`` and skipped: one bad package must
not stop an audit of models it was never going to count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from .estimate import EstimateTokenizer
from .hf_plugin import HfTokenizer
from .interface import Tokenizer
from .tiktoken_plugin import TiktokenTokenizer

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "Registry", "describe", "load_tokenizers"]

ENTRY_POINT_GROUP = "tokaudit.tokenizers"


@dataclass
class Registry:
    """The usable tokenizers, in lookup order, and the plugins that could not be loaded.

    ``broken`` holds ``(entry point name, error message)`` pairs so the CLI can show
    why a model fell back to an estimate.
    """

    tokenizers: list[Tokenizer] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)

    def for_model(self, model: str) -> Tokenizer | None:
        """The first tokenizer that covers ``model``; None means only an estimate is possible.

        A plugin whose ``covers`` raises is passed over for that model and named in
        ``broken``: one plugin's bug must not stop the recount of every model.
        """
        for tok in self.tokenizers:
            try:
                if tok.covers(model):
                    return tok
            except Exception as exc:  # third-party code: reported, never fatal
                self.broken.append((tok.name, f"{type(exc).__name__} on {model!r}: {exc}"))
        return None


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``tokaudit tokenizers list``."""

    name: str
    version: str | None
    # ok | broken (skipped) | damaged (a shipped vocabulary missing or not the pinned
    # one) | overlap (claims models an earlier plugin counts) | estimate
    status: str
    models: list[str]
    detail: str = ""


def describe(registry: Registry) -> list[PluginInfo]:
    """Installed plugins in lookup order, the estimator, then the broken ones with why.

    The tiktoken plugin's vocabularies are checked here as loading checks them (present,
    the pinned SHA-256): one missing or replaced is ``damaged``. A plugin claiming models
    an earlier plugin covers is ``overlap``: the first in lookup order counts them.
    """
    rows = []
    for i, tok in enumerate(registry.tokenizers):
        models, detail = _models_and_detail(tok)
        status = "ok"
        if isinstance(tok, TiktokenTokenizer):
            problems = tok.vocabulary_problems()
            if problems:
                status, detail = "damaged", "; ".join(problems)
            else:
                verified = ", ".join(tok.vocabularies())
                detail = f"{detail}; vocabularies verified (SHA-256): {verified}"
        if status == "ok":
            shared = _claimed_earlier(tok, models, registry.tokenizers[:i])
            if shared:
                status = "overlap"
                detail = f"{detail}; {shared}"
        rows.append(PluginInfo(tok.name, tok.version, status, models, detail))
    estimate = EstimateTokenizer()
    rows.append(
        PluginInfo(
            estimate.name,
            estimate.version,
            "estimate",
            estimate.models_covered(),
            "fallback, never exact",
        )
    )
    rows += [PluginInfo(name, None, "broken", [], message) for name, message in registry.broken]
    return rows


def _models_and_detail(tokenizer: Tokenizer) -> tuple[list[str], str]:
    """What a plugin says it covers, for the listing; a plugin failing to say so is named in
    the detail rather than stopping the listing of every other one."""
    try:
        return [str(model) for model in tokenizer.models_covered()], type(tokenizer).__module__
    except Exception as exc:
        return [], f"{type(tokenizer).__module__}; models_covered() failed: {_describe(exc)}"


def _samples(patterns: list[str]) -> list[str]:
    """Model ids read off ``models_covered()`` entries: ``gpt-4o* (o200k_base)`` gives
    ``gpt-4o``, ``a, b (path)`` gives ``a`` and ``b`` (what a pattern's prefix matches)."""
    found = []
    for entry in patterns:
        names = entry.split(" (", 1)[0]
        for name in names.split(", "):
            bare = name.strip().rstrip("*")
            if bare and not any(c in bare for c in "*?["):
                found.append(bare)
    return found


def _covers(tokenizer: Tokenizer, model: str) -> bool:
    try:
        return bool(tokenizer.covers(model))
    except Exception:  # reported when a recount asks; here it only claims nothing
        return False


def _claimed_earlier(tokenizer: Tokenizer, models: list[str], earlier: list[Tokenizer]) -> str:
    """Which of ``tokenizer``'s models (by its ``models_covered()`` patterns) an earlier
    plugin covers too, and which of the earlier one's it covers; '' when none. The first
    plugin in lookup order that covers a model counts it (``Registry.for_model``)."""
    mine = _samples(models)
    for other in earlier:
        try:
            theirs = _samples([str(m) for m in other.models_covered()])
        except Exception:
            theirs = []
        both = [m for m in mine if _covers(other, m)]
        both += [m for m in theirs if _covers(tokenizer, m) and m not in both]
        if both:
            listed = ", ".join(both[:5]) + (f" and {len(both) - 5} more" if len(both) > 5 else "")
            return (
                f"claims models plugin {other.name!r} covers too ({listed}); {other.name!r} "
                "comes first in lookup order and counts them"
            )
    return ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _check_identity(tokenizer: Tokenizer) -> None:
    """A plugin's ``name`` and ``version`` must be non-blank strings: every stored count is
    keyed by them, and one missing (a forgotten class attribute) stopped every recount and
    ``tokenizers list`` with an AttributeError."""
    for attribute in ("name", "version"):
        value = getattr(tokenizer, attribute, None)
        if not isinstance(value, str) or not value.strip():
            raise TypeError(
                f"{type(tokenizer).__name__}.{attribute} must be a non-empty string, got {value!r}"
            )


def load_tokenizers(config: Path | None = None) -> Registry:
    """Instantiate the built-in tokenizer and every plugin in the entry-point group.

    ``config`` is the tokaudit.yaml whose ``tokenizers:`` section configures the hf plugin
    (default: ``$TOKAUDIT_CONFIG``, else ./tokaudit.yaml).

    The built-ins come first and are always attempted directly, because running from a
    source tree (PYTHONPATH, no install) has no entry-point metadata. Entry points that
    resolve to a class already tried are skipped; a different plugin reusing a taken
    name (the estimator's included) is reported as broken rather than shadowing it.
    """
    registry = Registry()
    attempted: list[object] = []

    def add(label: str, target: object) -> None:
        attempted.append(target)
        try:
            if not (isinstance(target, type) and issubclass(target, Tokenizer)):
                raise TypeError(f"{target!r} is not a tokaudit Tokenizer subclass")
            tokenizer = HfTokenizer(config=config) if target is HfTokenizer else target()
            _check_identity(tokenizer)
        except Exception as exc:  # any plugin failure is reported, never fatal
            registry.broken.append((label, _describe(exc)))
            return
        # the estimator's name is taken too: the recount looks tokenizers up by name, so a
        # plugin called so was listed "ok" while the estimate counted its models
        taken = [tok.name for tok in registry.tokenizers] + [EstimateTokenizer.name]
        if tokenizer.name in taken:
            registry.broken.append((label, f"tokenizer name {tokenizer.name!r} is already taken"))
            return
        registry.tokenizers.append(tokenizer)

    add(TiktokenTokenizer.name, TiktokenTokenizer)
    add(HfTokenizer.name, HfTokenizer)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry_point.load()
        except Exception as exc:  # broken imports in third-party code
            registry.broken.append((entry_point.name, _describe(exc)))
            continue
        if not any(target is seen for seen in attempted):
            add(entry_point.name, target)
    return registry
