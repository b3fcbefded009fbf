"""Labels out of (and into) the label database.

- :func:`export_trl`: TRL preference pairs (``prompt``/``chosen``/``rejected``; conversational
  when the prompt is a list of messages), ties dropped, written both ways, or flagged;
- :func:`export_label_studio` / :func:`label_studio_config`: the pairs as Label Studio tasks
  for its pairwise-comparison interface (the ``Pairwise`` tag, plus a ``Tie`` choice and a
  reason box), with the judgments already made as annotations if asked;
- :func:`import_label_studio`: Label Studio's JSON export back into the database as
  judgments, so a team can label in Label Studio and use prefspace for the selection alone.

Writes are atomic (a temporary file renamed into place).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from .._atomic import atomic_path
from .._jsonread import loads as json_loads
from .._jsonsafe import dumps
from .._paths import check_output
from .._surface import option
from ..data.dataset import render_prompt_text
from ..exceptions import ConfigError, DataError
from .storage import (
    IMPORTED_PREFIX,
    DuplicateJudgmentError,
    LabelStore,
    UnknownPairError,
    check_annotator,
    unstorable,
)

logger = logging.getLogger(__name__)
_FIX_IN_LABEL_STUDIO = "fix the text in Label Studio and export again"

__all__ = [
    "export_trl",
    "export_label_studio",
    "label_studio_config",
    "import_label_studio",
    "TrlExport",
    "LabelStudioExport",
    "LabelStudioImport",
    "TIES",
    "AGGREGATES",
]

TIES = ("drop", "both", "flag")
AGGREGATES = ("majority", "all")

# names of the controls in the Label Studio interface prefspace writes
LS_PAIRWISE = "comparison"
LS_TIE = "tie"
LS_REASON = "reason"


@dataclass(frozen=True)
class TrlExport:
    """What :func:`export_trl` wrote.

    rows : preference pairs written (lines of the file)
    pairs : pairs with an outcome (a side or a tie) among them
    ties : tie outcomes (dropped, written both ways or flagged, as ``ties`` said)
    skipped_ties : ties dropped (``ties="drop"``; 0 otherwise)
    judgments : judgments in the database, skips included
    """

    rows: int
    pairs: int
    ties: int
    skipped_ties: int
    judgments: int


@dataclass(frozen=True)
class LabelStudioExport:
    """What :func:`export_label_studio` wrote: ``tasks``, and the ``annotations`` in them."""

    tasks: int
    annotations: int


@dataclass(frozen=True)
class LabelStudioImport:
    """What :func:`import_label_studio` read and added.

    tasks : tasks in the file
    added : judgments added to the database
    already : judgments the database held already (the same pair and annotator)
    empty : annotations without a judgment (no side, no Tie, not cancelled)
    unknown : tasks whose pair is not in the database (``on_unknown="skip"``)
    """

    tasks: int
    added: int
    already: int
    empty: int
    unknown: int


def _write_lines(path: str | os.PathLike, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps(row, ensure_ascii=False) + "\n")


def _pairs_and_judgments(db: Any) -> tuple[list[dict], dict[str, list[dict]]]:
    """The database's pairs (batch, rank order) and its judgments by pair id (oldest first);
    ``db`` is a path (opened read-only, then closed) or an open :class:`LabelStore`."""
    store = db if isinstance(db, LabelStore) else LabelStore(db, readonly=True)
    try:
        pairs = store.pairs()
        judgments = store.judgments()
    finally:
        if store is not db:
            store.close()
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for j in judgments:
        by_pair[j["pair_id"]].append(j)
    return pairs, by_pair


def _check_outputs(db: Any, *outs: tuple[str, Any]) -> None:
    """Refuse an output that is the database (or another output) before anything is read."""
    inputs = [] if isinstance(db, LabelStore) else [db]
    if isinstance(db, LabelStore):
        inputs.append(db.path)
    written: list = []
    for what, out in outs:
        if out is not None:
            check_output(out, inputs=inputs + written, what=option(what))
            written.append(out)


def _outcome(labels: list[str]) -> str | None:
    """Majority between A and B over non-skip labels; an even split, or ties only, is a tie."""
    votes = Counter(label for label in labels if label != "skip")
    if not votes:
        return None
    if votes["a"] > votes["b"]:
        return "a"
    if votes["b"] > votes["a"]:
        return "b"
    return "tie"


def _trl_row(pair: dict, first_wins: bool) -> dict:
    win, lose = ("response_a", "response_b") if first_wins else ("response_b", "response_a")
    prompt_w = pair["prompt"] if first_wins or pair["prompt_b"] is None else pair["prompt_b"]
    prompt_l = pair["prompt_b"] if first_wins and pair["prompt_b"] is not None else pair["prompt"]
    if pair["prompt_b"] is not None:
        # cross-prompt pair: no shared prompt, so TRL's implicit-prompt conversational format
        def conv(prompt, text):
            msgs = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
            return [*msgs, {"role": "assistant", "content": text}]

        return {"chosen": conv(prompt_w, pair[win]), "rejected": conv(prompt_l, pair[lose])}
    if isinstance(pair["prompt"], list):
        return {
            "prompt": pair["prompt"],
            "chosen": [{"role": "assistant", "content": pair[win]}],
            "rejected": [{"role": "assistant", "content": pair[lose]}],
        }
    return {"prompt": pair["prompt"], "chosen": pair[win], "rejected": pair[lose]}


def export_trl(
    db: str | os.PathLike | LabelStore,
    out: str | os.PathLike,
    *,
    ties: str = "drop",
    aggregate: str = "majority",
) -> TrlExport:
    """Write the labelled pairs of ``db`` as TRL preference pairs (JSON lines) to ``out``.

    Parameters
    ----------
    db : a label database path or an open LabelStore
    out : the .jsonl file to write
    ties : what to do with pairs judged a tie: ``"drop"`` them, write them ``"both"`` ways (A
        over B and B over A, which cancel out in a Bradley-Terry loss), or ``"flag"`` them
        (written once, A as chosen, with ``"tie": true``; filter them yourself)
    aggregate : ``"majority"``: one row per pair, the majority between A and B of its judgments
        (an even split is a tie); ``"all"``: one row per judgment

    Returns
    -------
    :class:`TrlExport`: the counts of rows, pairs, ties, dropped ties and judgments. Each row
    also carries ``pair_id``. A prompt given as messages gives TRL's conversational format; a cross-prompt
    pair, which has no shared prompt, is written as two full conversations (implicit prompt).

    Example
    -------
    >>> export_trl("labels.sqlite", "pairs.jsonl")             # doctest: +SKIP
    TrlExport(rows=41, pairs=41, ties=3, skipped_ties=3, judgments=46)
    """
    if ties not in TIES:
        raise ConfigError(f"ties must be one of {', '.join(TIES)}; got {ties!r}.")
    if aggregate not in AGGREGATES:
        raise ConfigError(f"aggregate must be one of {', '.join(AGGREGATES)}; got {aggregate!r}.")
    _check_outputs(db, ("out", out))
    pair_list, by_pair = _pairs_and_judgments(db)
    pairs = {p["pair_id"]: p for p in pair_list}
    outcomes: list[tuple[str, str]] = []  # (pair_id, outcome)
    for pid in pairs:  # batch, rank order
        labels = [j["label"] for j in by_pair.get(pid, [])]
        if aggregate == "majority":
            o = _outcome(labels)
            if o is not None:
                outcomes.append((pid, o))
        else:
            outcomes += [(pid, label) for label in labels if label != "skip"]
    rows, n_ties, dropped = [], 0, 0
    for pid, o in outcomes:
        pair = pairs[pid]
        if o in ("a", "b"):
            rows.append({**_trl_row(pair, o == "a"), "pair_id": pid})
            continue
        n_ties += 1
        if ties == "drop":
            dropped += 1
        elif ties == "both":
            rows.append({**_trl_row(pair, True), "pair_id": pid})
            rows.append({**_trl_row(pair, False), "pair_id": pid})
        else:
            rows.append({**_trl_row(pair, True), "pair_id": pid, "tie": True})
    _write_lines(out, rows)
    stats = TrlExport(
        rows=len(rows),
        pairs=len({pid for pid, _ in outcomes}),
        ties=n_ties,
        skipped_ties=dropped,
        judgments=sum(len(js) for js in by_pair.values()),
    )
    logger.info("exported %s to %s", stats, out)
    return stats


# ------------------------------------------------------------------------------ Label Studio
def label_studio_config(header: str = "Which response is better?") -> str:
    """The Label Studio labeling interface for prefspace's tasks (pairwise comparison of
    ``$response_a`` and ``$response_b`` under ``$prompt``, a Tie choice and a reason box)."""
    return f"""<View>
  <Header value={quoteattr(header)}/>
  <Text name="prompt" value="$prompt"/>
  <Pairwise name="{LS_PAIRWISE}" toName="response_a,response_b"/>
  <View style="display: flex; gap: 1em;">
    <View style="flex: 1;"><Header value="A"/><Text name="response_a" value="$response_a"/></View>
    <View style="flex: 1;"><Header value="B"/><Text name="response_b" value="$response_b"/></View>
  </View>
  <Choices name="{LS_TIE}" toName="prompt" choice="single" showInline="true">
    <Choice value="Tie"/>
  </Choices>
  <TextArea name="{LS_REASON}" toName="prompt" placeholder="Reason (optional)" maxSubmissions="1"/>
</View>
"""


def _prompt_text(prompt: Any) -> str:
    return render_prompt_text(prompt)


def _ls_result(label: str, reason: str | None) -> list[dict]:
    out = []
    if label in ("a", "b"):
        out.append(
            {
                "from_name": LS_PAIRWISE,
                "to_name": "response_a,response_b",
                "type": "pairwise",
                "value": {"selected": "left" if label == "a" else "right"},
            }
        )
    elif label == "tie":
        out.append(
            {
                "from_name": LS_TIE,
                "to_name": "prompt",
                "type": "choices",
                "value": {"choices": ["Tie"]},
            }
        )
    if reason:
        out.append(
            {
                "from_name": LS_REASON,
                "to_name": "prompt",
                "type": "textarea",
                "value": {"text": [reason]},
            }
        )
    return out


def export_label_studio(
    db: str | os.PathLike | LabelStore,
    out: str | os.PathLike,
    *,
    pending: bool = False,
    with_annotations: bool = True,
    config_out: str | os.PathLike | None = None,
) -> LabelStudioExport:
    """Write the pairs of ``db`` as Label Studio tasks (one JSON list) to ``out``.

    Parameters
    ----------
    pending : only pairs nobody has judged yet (the open batch, to label in Label Studio)
    with_annotations : include the judgments already made as annotations (``completed_by``
        is the annotator name; ``was_cancelled`` marks a skip)
    config_out : also write the labeling interface (:func:`label_studio_config`) there

    Each task's ``data`` has ``prompt`` (messages rendered as text), ``response_a``,
    ``response_b``, ``pair_id``, ``id_a``, ``id_b``, ``batch``, ``strategy``,
    ``model_version`` (and ``prompt_b`` for a cross-prompt pair). The file is standard JSON:
    a number that is not finite (a ``lead_time`` of infinity) is written as ``null``.

    Returns
    -------
    :class:`LabelStudioExport`: the tasks written and the annotations in them.
    """
    _check_outputs(db, ("out", out), ("config_out", config_out))
    pairs, by_pair = _pairs_and_judgments(db)
    tasks = []
    for p in pairs:
        done = by_pair.get(p["pair_id"], [])
        if pending and done:
            continue
        data = {
            "prompt": _prompt_text(p["prompt"]),
            "response_a": p["response_a"],
            "response_b": p["response_b"],
            "pair_id": p["pair_id"],
            "id_a": p["id_a"],
            "id_b": p["id_b"],
            "batch": p["batch"],
            "strategy": p["strategy"],
            "model_version": p["model_version"],
        }
        if p["prompt_b"] is not None:
            data["prompt_b"] = _prompt_text(p["prompt_b"])
        task: dict = {"data": data}
        if with_annotations and done:
            task["annotations"] = [
                {
                    "completed_by": j["annotator"],
                    "was_cancelled": j["label"] == "skip",
                    "created_at": _dt.datetime.fromtimestamp(j["created_at"], _dt.UTC).isoformat(),
                    "lead_time": j["seconds"],
                    "result": _ls_result(j["label"], j["reason"]),
                }
                for j in done
            ]
        tasks.append(task)
    with atomic_path(out) as tmp:
        tmp.write_text(dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    if config_out is not None:
        with atomic_path(config_out) as tmp:
            tmp.write_text(label_studio_config(), encoding="utf-8")
    return LabelStudioExport(
        tasks=len(tasks), annotations=sum(len(t.get("annotations", [])) for t in tasks)
    )


def _annotator_name(completed_by: Any, where: str) -> str:
    """The annotator of a Label Studio annotation.

    ``label-studio:<email, username or id>`` for a Label Studio user; a name (as prefspace's
    own export writes it) is kept. Either follows the studio's rule for names
    (:data:`~prefspace.studio.storage.ANNOTATOR_NAME`, after the prefix); anything else is refused.
    """
    prefix = IMPORTED_PREFIX
    if isinstance(completed_by, dict):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                completed_by = completed_by[key]
                break
        else:
            completed_by = None
    elif isinstance(completed_by, str):
        prefix = ""  # a name prefspace exported
    if completed_by in (None, ""):
        return "label-studio"
    if isinstance(completed_by, bool) or not isinstance(completed_by, (int, str)):
        raise DataError(
            f"{where}: 'completed_by' must be a user id, a name or an object with 'email'; found "
            f"{type(completed_by).__name__}."
        )
    problem = unstorable(f"{where}: 'completed_by'", completed_by, _FIX_IN_LABEL_STUDIO)
    if problem:
        raise DataError(problem)
    name = str(completed_by)
    if not name.startswith(IMPORTED_PREFIX):
        name = prefix + name
    try:
        return check_annotator(name)
    except ConfigError as exc:
        raise DataError(
            f"{where}: 'completed_by' is not a usable annotator name ({exc}) Rename the user in "
            "Label Studio, or remove the annotation, and import again."
        ) from None


def _texts(value: Any, where: str, what: str) -> list[str]:
    """A Label Studio value that should be a list of strings (a lone string is accepted too)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: {what} must be a list of strings; found {_shape(value)}.")
    for v in value:
        problem = unstorable(f"{where}: {what}", v, _FIX_IN_LABEL_STUDIO)
        if problem:
            raise DataError(problem)
    return value


def _shape(value: Any) -> str:
    if isinstance(value, list):
        inner = sorted({type(v).__name__ for v in value})
        return f"a list of {', '.join(inner)}" if inner else "an empty list"
    return "null" if value is None else type(value).__name__


def _judgment_from_annotation(ann: Any, where: str) -> tuple[str, str | None] | None:
    """``(label, reason)`` of one Label Studio annotation, or None when it holds no judgment.

    Every part has the shape Label Studio writes, or DataError names the part and the shape found.
    """
    if not isinstance(ann, dict):
        raise DataError(f"{where}: an annotation must be a JSON object; got {type(ann).__name__}.")
    result = ann.get("result") or []
    if not isinstance(result, list):
        raise DataError(f"{where}: 'result' must be a list; found {_shape(result)}.")
    picked, tie, reason = None, False, None
    for i, r in enumerate(result):
        if not isinstance(r, dict):
            raise DataError(f"{where}: result {i} must be an object; found {_shape(r)}.")
        kind, value = r.get("type"), r.get("value") if r.get("value") is not None else {}
        if not isinstance(value, dict):
            raise DataError(
                f"{where}: result {i} 'value' must be an object; found {_shape(value)}."
            )
        if kind == "pairwise":
            sel = value.get("selected")
            if sel not in ("left", "right"):
                raise DataError(
                    f"{where}: pairwise selection {str(sel)[:40]!r}; expected 'left' or 'right'."
                )
            picked = "a" if sel == "left" else "b"
        elif kind == "choices":
            choices = _texts(value.get("choices", []), where, f"result {i} 'choices'")
            tie = tie or any(c.lower() == "tie" for c in choices)
        elif kind == "textarea":
            texts = _texts(value.get("text") or [], where, f"result {i} 'text'")
            reason = "\n".join(texts).strip() or None
    if ann.get("was_cancelled"):
        return "skip", reason
    if picked and tie:
        raise DataError(
            f"{where}: the annotation both picks a side and says Tie; fix it in Label Studio "
            "(or remove the task from the file) and import again."
        )
    if picked:
        return picked, reason
    if tie:
        return "tie", reason
    return None


_SUPPORTED = (
    "prefspace imports Label Studio's 'JSON' export only (Export > JSON: a list of tasks, each with "
    "'data' and 'annotations'); its JSON-MIN, CSV and TSV exports flatten the annotations into "
    "columns named after the interface's tags and are not read. Export the project again as 'JSON'."
)


def _refuse_json_min(tasks: list, path: Path) -> None:
    """JSON-MIN rows are flat: the task's data fields at the top, no ``data`` object."""
    first = next((t for t in tasks if isinstance(t, dict)), None)
    if (
        first is not None
        and "data" not in first
        and ({"annotator", "annotation_id", LS_PAIRWISE, "response_a"} & set(first))
    ):
        raise DataError(f"{path}: a Label Studio JSON-MIN export. {_SUPPORTED}")


def _seconds(value: Any) -> float | None:
    """Label Studio's ``lead_time``: a finite number of seconds >= 0, else unknown (None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def _read_tasks(path: Path) -> list:
    try:
        tasks = json_loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder; pass the JSON file Label Studio exported.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a Label Studio JSON export ({exc}). {_SUPPORTED}") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise DataError(
            f"{path}: expected a JSON list of tasks (Label Studio's 'JSON' export). {_SUPPORTED}"
        )
    _refuse_json_min(tasks, path)
    return tasks


_Judgment = tuple[str, str, str, str | None, float | None]  # pair, annotator, label, reason, s


def _judgments_to_import(
    tasks: list, store: LabelStore, path: Path, on_unknown: str, stats: Counter[str]
) -> list[_Judgment]:
    """Every judgment in ``tasks``, checked (DataError names the task), before any is written;
    counts the tasks, the unknown ones skipped and the empty annotations in ``stats``."""
    ids_to_pair = {(p["id_a"], p["id_b"]): p["pair_id"] for p in store.pairs()}
    todo: list[_Judgment] = []
    for t_index, task in enumerate(tasks):
        where = f"{path}: task {t_index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError(f"{where}: a task must be an object with a 'data' object.")
        data = task["data"]
        stats["tasks"] += 1
        pair_id = data.get("pair_id")
        if pair_id is None and "id_a" in data and "id_b" in data:
            pair_id = ids_to_pair.get((str(data["id_a"]), str(data["id_b"])))
        if (
            not isinstance(pair_id, (str, int))
            or isinstance(pair_id, bool)
            or store.pair(str(pair_id)) is None
        ):
            if on_unknown == "skip":
                stats["unknown"] += 1
                continue
            raise DataError(
                f"{where}: pair {str(pair_id)[:80]!r} is not in {store.path.name}. Import only tasks exported "
                "from this database (`prefspace label export DB --format label-studio`), or pass "
                f"{option('on_unknown', 'skip')}."
            )
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise DataError(f"{where}: 'annotations' must be a list; found {_shape(annotations)}.")
        for a_index, ann in enumerate(annotations):
            at = f"{where}, annotation {a_index}"
            got = _judgment_from_annotation(ann, at)
            if got is None:
                stats["empty"] += 1
                continue
            label, reason = got
            who = _annotator_name(ann.get("completed_by"), at)
            todo.append((str(pair_id), who, label, reason, _seconds(ann.get("lead_time"))))
    return todo


def import_label_studio(
    db: str | os.PathLike | LabelStore, source: str | os.PathLike, *, on_unknown: str = "error"
) -> LabelStudioImport:
    """Add the annotations of a Label Studio JSON export to the label database.

    Label Studio's JSON-MIN, CSV and TSV exports are refused, with a message naming the
    supported format ('JSON').

    The tasks must be ones prefspace wrote (their ``data`` has ``pair_id``, or ``id_a`` and
    ``id_b``). A pairwise ``left`` is label ``a``, ``right`` is ``b``, the ``Tie`` choice is a
    tie, a cancelled (skipped) annotation is a skip and a text area is the reason. The
    annotator is ``label-studio:`` and ``completed_by`` (its email when exported with user
    details), which must follow the studio's rule for names. Importing the same file twice
    adds nothing the second time. Stop the studio first: a running studio does not see
    judgments written by another process until it restarts.

    The whole file is checked before anything is written: a task of the wrong shape raises
    DataError naming the file and the task, and the database is left as it was.

    Parameters
    ----------
    on_unknown : ``"error"`` (default) for a task whose pair is not in the database, or
        ``"skip"`` it (counted)

    Returns
    -------
    :class:`LabelStudioImport`: the counts of tasks read, judgments added, judgments already
    there, empty annotations and unknown tasks.
    """
    if on_unknown not in ("error", "skip"):
        raise ConfigError(f"on_unknown must be 'error' or 'skip'; got {on_unknown!r}.")
    path = Path(source)
    if path.suffix.lower() in (".csv", ".tsv"):
        raise DataError(f"{path}: a Label Studio {path.suffix[1:].upper()} export. {_SUPPORTED}")
    if not isinstance(db, LabelStore):
        check_output(db, inputs=[path], what="the label database")
        if not Path(db).is_file():
            raise DataError(
                f"{db}: no such label database; import into the database the tasks came from."
            )
    tasks = _read_tasks(path)
    store = db if isinstance(db, LabelStore) else LabelStore(db)
    stats: Counter[str] = Counter()
    try:
        # first every task is read and checked, then the judgments are written
        todo = _judgments_to_import(tasks, store, path, on_unknown, stats)
        for pair_id, who, label, reason, seconds in todo:
            try:
                store.add_judgment(
                    pair_id, who, label, reason=reason, seconds=seconds, source="label-studio"
                )
                stats["added"] += 1
            except DuplicateJudgmentError:
                stats["already"] += 1
            except UnknownPairError:  # pragma: no cover - checked above
                stats["unknown"] += 1
    finally:
        if store is not db:
            store.close()
    return LabelStudioImport(
        tasks=stats["tasks"],
        added=stats["added"],
        already=stats["already"],
        empty=stats["empty"],
        unknown=stats["unknown"],
    )
