"""Attribution rules from ``tokaudit.yaml``: who a request is charged to.

Logs name teams, users and projects in their own ways (a metadata key, LiteLLM's
``team_id``, an API key, the folder a file sits in). A config file maps those to the
``team``, ``user``, ``feature``, ``project`` and ``prompt`` columns; documented with
examples in docs/attribution.md. The rules run in SQL on ``_staged`` inside each file's
transaction, before anything is inserted: attribution is fixed at load time, like every
other column, and ``ingest --reload`` reads files again to apply edited rules.

For each column, the listed sources are tried in order and the first non-empty value
wins; when none gives one, the value the format read from the log stays.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.config_file import read_yaml, reject_unknown
from tokaudit.errors import ConfigError
from tokaudit.ingest.staging import BLANKS, sql_string

CONFIG_NAME = "tokaudit.yaml"
ENV_VAR = "TOKAUDIT_CONFIG"
# Attribution targets and the requests column each fills.
TARGETS = {
    "team": "team",
    "user": "user_id",
    "feature": "feature",
    "project": "project",
    "prompt": "prompt_id",
    # the version of the prompt: a rule for `prompt` without one for it keeps the logged
    # version only where the prompt is the logged one (``Attribution._fallback``)
    "prompt_version": "prompt_version",
    "environment": "environment",
}
# Where a row's API key (or key id, alias, hash) is looked for, unless api_key_fields says.
DEFAULT_KEY_FIELDS = (
    "metadata.api_key_id",
    "metadata.api_key",
    "metadata.user_api_key_alias",
    "metadata.user_api_key_hash",
)
# tokaudit.yaml's sections read here; `tokenizers` belongs to the tokenizer plugins (the
# Hugging Face plugin reads its tokenizer.json files from it) and `findings` to the waste
# rules' thresholds (config_file.findings_settings), so they are allowed, not read
TOP_KEYS = (
    "attribution",
    "api_keys",
    "api_key_fields",
    "path_patterns",
    "tokenizers",
    "findings",
)
_MASK = "..."


@dataclass(frozen=True)
class KeyAlias:
    """One ``api_keys`` entry: an exact key, or a masked one (``sk-...abcd``)."""

    pattern: str
    values: dict[str, str]

    @property
    def prefix_suffix(self) -> tuple[str, str] | None:
        if _MASK not in self.pattern:
            return None
        prefix, _, suffix = self.pattern.partition(_MASK)
        return prefix, suffix


@dataclass(frozen=True)
class PathPattern:
    pattern: re.Pattern[str]
    values: dict[str, str]  # static values for files that match

    def match(self, path: str) -> dict[str, str]:
        """Named groups (non-empty) and static values for ``path``, or {} when no match."""
        m = self.pattern.search(path)
        if not m:
            return {}
        found = {k: v for k, v in m.groupdict().items() if v}
        return {**self.values, **found}


@dataclass(frozen=True)
class Attribution:
    origin: str
    sources: dict[str, list[str]]  # target -> sources, in order
    api_keys: list[KeyAlias] = field(default_factory=list)
    key_fields: tuple[str, ...] = DEFAULT_KEY_FIELDS
    path_patterns: list[PathPattern] = field(default_factory=list)

    def path_values(self, path: str) -> dict[str, str]:
        """What the path patterns give for one file (the first pattern to set a target wins)."""
        out: dict[str, str] = {}
        for p in self.path_patterns:
            for k, v in p.match(path).items():
                out.setdefault(k, v)
        return out

    def apply(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Rewrite the attribution columns of ``_staged`` (needs ``_sources``). When a
        ``metadata.<key>`` source is consulted, add the column ``ta_unusable``: true on the
        valid rows where one held a list or object it could not use
        (``_unusable_consulted``), for a warning that counts the rows loaded (a row already
        stored, or a duplicate in the file, is not); returns whether it was added."""
        if not self.sources:
            return False
        uses_path = any("path" in s for s in self.sources.values())
        uses_key = any("api_key" in s for s in self.sources.values())
        joins = ""
        if uses_path:
            files = con.execute("SELECT file_no, source_file FROM _sources").fetchall()
            rows = [(int(n), self.path_values(str(src))) for n, src in files]
            cols = ", ".join(f"unnest(?::VARCHAR[]) AS {t}" for t in TARGETS)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _ta_paths AS "
                f"SELECT unnest(?::INTEGER[]) AS file_no, {cols}",
                [[n for n, _ in rows], *[[v.get(t) for _, v in rows] for t in TARGETS]],
            )
            joins += " LEFT JOIN _ta_paths p ON p.file_no = s.file_no"
        if uses_key:
            self._match_keys(con)
            joins += " LEFT JOIN _ta_keymatch k ON k.rid = s.rowid"
        targets = list(self.sources)
        if "prompt" in self.sources and "prompt_version" not in self.sources:
            targets.append("prompt_version")  # follows the prompt (``_fallback``)
        replaced = ", ".join(f"{self._target_sql(t)} AS {TARGETS[t]}" for t in targets)
        unusable = " OR ".join(c for t in self.sources for c in self._unusable_consulted(t))
        # over the rows as read (the values the earlier sources had), beside the rewrite
        flag = (
            f", coalesce(s.reject_reason IS NULL AND ({unusable}), false) AS ta_unusable"
            if unusable
            else ""
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged AS "
            f"SELECT s.* REPLACE ({replaced}){flag} FROM _staged s{joins} ORDER BY s.rowid"
        )
        return bool(unusable)

    def _fallback(self, target: str) -> str:
        """The value a target keeps when no source gives one: the logged one. A prompt's
        logged version belongs to the logged prompt: where the rules name another prompt,
        it is dropped (a report showed one prompt with another's version), unless the
        ``prompt_version`` rules give one. A version logged with no prompt belongs to none
        other, so it stays with the prompt the rules name."""
        logged = f"s.{TARGETS[target]}"
        if target == "prompt_version" and "prompt" in self.sources:
            prompt = self._target_sql("prompt", ("prompt_version",))
            return (
                f"CASE WHEN s.prompt_id IS NULL OR ({prompt}) IS NOT DISTINCT FROM s.prompt_id "
                f"THEN {logged} END"
            )
        return logged

    def _target_sql(self, target: str, seen: tuple[str, ...] = ()) -> str:
        """The value of one target: its sources in order, then what the log said.

        A source naming another configured target (``project: [team]``) reads that
        target's attributed value, so rules compose; ``parse_attribution`` refuses cycles.
        """
        parts = [self._part_sql(src, target, seen) for src in self.sources.get(target, [])]
        return f"coalesce({', '.join([*parts, self._fallback(target)])})"

    def _part_sql(self, src: str, target: str, seen: tuple[str, ...] = ()) -> str:
        """SQL for one source of ``target``: another target's attributed value, or the
        source itself."""
        if src in self.sources and src not in seen and src != target:
            return self._target_sql(src, (*seen, target))
        return _source_sql(src, target)

    def _unusable_consulted(self, target: str) -> list[str]:
        """SQL conditions: a ``metadata.<key>`` source of ``target`` held a list or object
        it could not use, and was consulted (every reading before it gave nothing). A row
        whose earlier source decided was counted too, and warned of for nothing."""
        conds: list[str] = []
        before: list[str] = []
        for src in self.sources.get(target, []):
            if not src.startswith("metadata."):
                before.append(self._part_sql(src, target))
                continue
            for path in _json_paths(src[len("metadata.") :]):
                earlier = f"coalesce({', '.join(before)}) IS NULL AND " if before else ""
                conds.append(f"({earlier}{_unusable_sql(path)})")
                before.append(_metadata_read(path))
        return conds

    def _match_keys(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = []
        for listed, alias in enumerate(self.api_keys):
            ps = alias.prefix_suffix
            rows.append(
                (
                    listed,
                    alias.pattern,
                    ps is not None,
                    ps[0] if ps else None,
                    ps[1] if ps else None,
                    *[alias.values.get(t) for t in TARGETS],
                )
            )
        cols = ["listed", "pattern", "masked", "prefix", "suffix", *TARGETS]
        types = ["INTEGER", "VARCHAR", "BOOLEAN", "VARCHAR", "VARCHAR", *["VARCHAR"] * len(TARGETS)]
        defs = ", ".join(f"{c} {k}" for c, k in zip(cols, types, strict=True))
        con.execute(f"CREATE OR REPLACE TEMP TABLE _ta_keys ({defs})")
        if rows:
            con.executemany(
                f"INSERT INTO _ta_keys VALUES ({', '.join('?' for _ in cols)})", rows
            )  # one row per configured alias, not per record
        # every key field a row has, in api_key_fields' order: the first one that api_keys
        # lists decides (LiteLLM logs the hashed key before the alias, so the alias a user
        # configured never matched when only the first field present was looked up: QA);
        # of two masks of one length that both match, the one listed first (the order was
        # left to the join, so one key's rows were split between both teams: QA)
        keys = ", ".join(_source_sql(f, None) for f in self.key_fields)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _ta_keymatch AS
            SELECT s.rid, {", ".join(f"k.{t}" for t in TARGETS)}
            FROM (SELECT s.rowid AS rid, unnest([{keys}]) AS key,
                         unnest(range({len(self.key_fields)})) AS field
                  FROM _staged s WHERE s.reject_reason IS NULL) s
            JOIN _ta_keys k ON s.key = k.pattern
                OR (k.masked AND starts_with(s.key, k.prefix) AND ends_with(s.key, k.suffix)
                    AND length(s.key) >= length(k.prefix) + length(k.suffix))
            QUALIFY row_number() OVER (
                PARTITION BY s.rid
                ORDER BY s.field, (s.key = k.pattern) DESC, length(k.pattern) DESC, k.listed
            ) = 1"""
        )


# a dotted source with more segments than this is read as nested keys only (the readings
# with dotted key names number 2^(segments - 1))
_MAX_DOTTED_SEGMENTS = 8


def _json_path(keys: list[str]) -> str:
    return "$." + ".".join('"' + key.replace('"', '\\"') + '"' for key in keys)


def _json_paths(dotted: str) -> list[str]:
    """The JSON paths ``metadata.<dotted>`` may name, the nested reading first.

    OTel and Langfuse keep span and resource attributes under their dotted names
    (``metadata.attributes["app.team"]``), which the nested reading never reaches; so each
    way of joining neighbouring segments into one key is tried after it, deeper first.
    """
    segs = dotted.split(".")
    if len(segs) > _MAX_DOTTED_SEGMENTS:
        return [_json_path(segs)]
    splits = list(itertools.product((True, False), repeat=len(segs) - 1))  # a key ends here
    splits.sort(key=lambda ends: -sum(ends))  # stable: earlier boundaries kept first
    paths = []
    for ends in splits:
        keys, current = [], segs[0]
        for seg, end in zip(segs[1:], ends, strict=True):
            if end:
                keys.append(current)
                current = seg
            else:
                current = f"{current}.{seg}"
        paths.append(_json_path([*keys, current]))
    return paths


def _source_sql(source: str, target: str | None) -> str:
    """SQL for one source (over ``_staged s``, ``_ta_paths p``, ``_ta_keymatch k``).

    A value that is only blanks (tabs and line breaks too, as the loader counts them) is no
    value, so the next source is tried: trimming spaces only let a ``"\\t"`` win and then
    be stored as NULL, wiping the logged value the rules fall back to.
    """
    if source.startswith("metadata."):
        reads = ", ".join(_metadata_read(path) for path in _json_paths(source[len("metadata.") :]))
        return f"coalesce({reads})"
    if source == "path":
        return f"p.{target}"
    if source == "api_key":
        return f"k.{target}"
    return f"nullif(trim(s.{TARGETS[source]}, {BLANKS}), '')"


def _metadata_read(path: str) -> str:
    """SQL: the text of ``s.metadata`` at ``path``, or NULL when it has none to give.

    A list of one text, number or boolean is that value (`tags: ["search"]`); an empty
    list or object is no value; any other list or object is none either (its JSON text,
    `["a","b"]`, was used as a team name), so the next source is tried, and the rows are
    counted for a warning (``_unusable_sql``).
    """
    value = f"(s.metadata -> {sql_string(path)})"
    return (
        f"CASE json_type({value}) WHEN 'OBJECT' THEN NULL "
        f"WHEN 'ARRAY' THEN CASE WHEN json_array_length({value}) = 1 "
        f"AND json_type({value} -> 0) NOT IN ('OBJECT', 'ARRAY', 'NULL') "
        f"THEN nullif(trim({value} ->> 0, {BLANKS}), '') END "
        f"ELSE nullif(trim(s.metadata ->> {sql_string(path)}, {BLANKS}), '') END"
    )


def _unusable_sql(path: str) -> str:
    """SQL: ``s.metadata`` at ``path`` is a list or object that ``_metadata_read`` cannot
    use (not empty, and not a list of one value)."""
    value = f"(s.metadata -> {sql_string(path)})"
    return (
        f"coalesce(CASE json_type({value}) WHEN 'OBJECT' THEN {value}::VARCHAR <> '{{}}' "
        f"WHEN 'ARRAY' THEN json_array_length({value}) > 1 OR (json_array_length({value}) = 1 "
        f"AND json_type({value} -> 0) IN ('OBJECT', 'ARRAY', 'NULL')) END, false)"
    )


def _source_ok(source: Any) -> bool:
    if not isinstance(source, str):
        return False
    if source.startswith("metadata."):
        return all(source[len("metadata.") :].split("."))
    return source in ("path", "api_key") or source in TARGETS


def _str_values(data: Any, where: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(TARGETS)} to values")
    reject_unknown(data, TARGETS, where, "target")
    for k, v in data.items():
        if not isinstance(v, str | int | float) or isinstance(v, bool) or str(v).strip() == "":
            raise ConfigError(f"{where}.{k}: must be a non-empty text value")
    return {str(k): str(v) for k, v in data.items()}


def parse_attribution(data: Any, origin: str) -> Attribution:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'attribution:'")
    reject_unknown(data, TOP_KEYS, origin)
    raw = data.get("attribution") or {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin}: attribution must be a mapping such as "
            "{team: [metadata.team, api_key, path]}"
        )
    sources: dict[str, list[str]] = {}
    for target, value in raw.items():
        where = f"{origin}: attribution.{target}"
        if target not in TARGETS:
            raise ConfigError(f"{where}: unknown target (allowed: {', '.join(TARGETS)})")
        listed = value if isinstance(value, list) else [value]
        for src in listed:
            if not _source_ok(src):
                raise ConfigError(
                    f"{where}: source {src!r} is not metadata.<key>, api_key, path or one of "
                    f"{', '.join(TARGETS)}"
                )
        if not listed:
            raise ConfigError(f"{where}: give at least one source")
        sources[str(target)] = [str(s) for s in listed]
    keys_raw = data.get("api_keys") or {}
    if not isinstance(keys_raw, dict):
        raise ConfigError(f"{origin}: api_keys must be a mapping of key: team (or {{team: ...}})")
    api_keys: list[KeyAlias] = []
    for key, value in keys_raw.items():
        where = f"{origin}: api_keys.{key}"
        if not isinstance(key, str) or not key.strip() or key.strip() == _MASK:
            raise ConfigError(f"{where}: the key must be text (exact, or masked as sk-...abcd)")
        # a plain value is the team, and must be text as a mapping's values must (a blank
        # one wiped the logged team and stopped the fallbacks: QA)
        shorthand = isinstance(value, str | int | float) and not isinstance(value, bool)
        values = _str_values({"team": value} if shorthand else value, where)
        if not values:  # it would match, set nothing, and stop the later key fields' lookup
            raise ConfigError(f"{where}: give the team, or a mapping such as {{team: growth}}")
        if key.strip() in {alias.pattern for alias in api_keys}:
            raise ConfigError(f"{where}: given twice (keys are compared without their spaces)")
        api_keys.append(KeyAlias(key.strip(), values))
    fields_raw = data.get("api_key_fields", list(DEFAULT_KEY_FIELDS))
    if (
        not isinstance(fields_raw, list)
        or not all(
            isinstance(f, str) and f.startswith("metadata.") and _source_ok(f) for f in fields_raw
        )
        or not fields_raw
    ):
        raise ConfigError(f"{origin}: api_key_fields must be a list of metadata.<key> paths")
    patterns_raw = data.get("path_patterns") or []
    if not isinstance(patterns_raw, list):
        raise ConfigError(f"{origin}: path_patterns must be a list of {{pattern: ...}} items")
    patterns = []
    for i, item in enumerate(patterns_raw):
        where = f"{origin}: path_patterns[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("pattern"), str):
            raise ConfigError(f"{where}: needs a 'pattern' (a regular expression)")
        try:
            compiled = re.compile(item["pattern"])
        except re.error as exc:
            raise ConfigError(f"{where}.pattern: not a regular expression: {exc}") from exc
        bad = sorted(g for g in compiled.groupindex if g not in TARGETS)
        if bad:
            raise ConfigError(
                f"{where}.pattern: group(s) {', '.join(bad)} are not targets "
                f"(allowed: {', '.join(TARGETS)})"
            )
        statics = _str_values({k: v for k, v in item.items() if k != "pattern"}, where)
        if not compiled.groupindex and not statics:
            raise ConfigError(f"{where}: name a group (?P<team>...) or give a value (team: x)")
        patterns.append(PathPattern(compiled, statics))
    _check_cycles(sources, origin)
    uses = {s for srcs in sources.values() for s in srcs}
    if "api_key" in uses and not api_keys:
        raise ConfigError(f"{origin}: attribution uses api_key but api_keys is empty")
    if "path" in uses and not patterns:
        raise ConfigError(f"{origin}: attribution uses path but path_patterns is empty")
    return Attribution(origin, sources, api_keys, tuple(fields_raw), patterns)


def _check_cycles(sources: dict[str, list[str]], origin: str) -> None:
    """Refuse rules that read each other in a circle (team from project from team)."""

    def visit(target: str, chain: tuple[str, ...]) -> None:
        for src in sources.get(target, []):
            if src == target:
                continue  # a target's own logged value, the usual fallback
            if src in chain:
                loop = " -> ".join((*chain, target, src))
                raise ConfigError(
                    f"{origin}: attribution.{target}: the rules form a cycle ({loop})"
                )
            if src in sources:
                visit(src, (*chain, target))

    for target in sources:
        visit(target, ())


def load_attribution(path: Path) -> Attribution:
    """Read and validate a ``tokaudit.yaml`` (ConfigError names the file and the key)."""
    return parse_attribution(read_yaml(path, "config"), str(path))


def config_sets_nothing(path: Path) -> bool:
    """True when the config file holds nothing (0 bytes, only comments, or only empty
    sections), for a warning: accepted, it silently applied no rule. A file that cannot be
    read is not judged here: loading it says why."""
    try:
        data = read_yaml(path, "config")
    except ConfigError:
        return False
    return data is None or (isinstance(data, dict) and not any(data.values()))


def default_config_path(explicit: Path | None = None) -> Path | None:
    """The config to use: ``explicit``, else $TOKAUDIT_CONFIG, else ./tokaudit.yaml if any."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = Path.cwd() / CONFIG_NAME
    return here if here.is_file() else None
