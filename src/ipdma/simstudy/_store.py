"""The result store: one Parquet (or CSV) file per finished (scenario, replicate) cell.

Each file is written to a temporary name and renamed into place, so an
interrupted run never leaves a half-written cell: a cell either exists in full
or not at all, and a rerun on the same folder resumes with the missing ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DataError, ModelSpecificationError

__all__ = ["ResultStore"]


class ResultStore:
    """Results of a simulation study kept in a folder.

    Parameters
    ----------
    path : str or Path
        The folder (created when missing).
    format : {"parquet", "csv"}
        File format of the cells; Parquet by default.

    Examples
    --------
    >>> import shutil, tempfile
    >>> import pandas as pd
    >>> from ipdma.simstudy import ResultStore
    >>> folder = tempfile.mkdtemp()
    >>> store = ResultStore(folder)
    >>> rows = pd.DataFrame({"scenario": ["1", "1"], "replicate": [0, 0],
    ...                      "method": ["ols+mvma", "ols+weighted-aux-ols"],
    ...                      "mae": [0.3, 0.4], "error": ["", ""]})
    >>> store.write_cell(1, 0, rows)
    >>> store.cell_file(1, 0).relative_to(folder).as_posix()
    'cells/scenario=1/rep=00000.parquet'
    >>> sorted(store.done_methods(1, 0)), store.done_methods(1, 1)
    (['ols+mvma', 'ols+weighted-aux-ols'], set())
    >>> store.load().shape
    (2, 5)
    >>> shutil.rmtree(folder)
    """

    def __init__(self, path: str | Path, format: str = "parquet") -> None:
        if format not in ("parquet", "csv"):
            raise ModelSpecificationError(f"store format must be 'parquet' or 'csv', not "
                                          f"{format!r}")
        if format == "parquet":
            from .._optional import import_optional

            import_optional("pyarrow", purpose="a Parquet result store (use --format csv / "
                            "format='csv' without it)")
        self.path = Path(path)
        self.format = format
        self.cells_dir = self.path / "cells"

    # -- configuration ---------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "study.json"

    def read_config(self) -> dict | None:
        if not self.config_file.is_file():
            return None
        with open(self.config_file) as fh:
            return json.load(fh)

    def check_or_write_config(self, config: dict) -> None:
        """Record the study's configuration; refuse to mix studies with other seeds.

        Scenarios, methods and replicates may be added on a rerun (the new
        cells are computed); the seed and the scenario parameters must agree,
        or the stored numbers would come from a different study.
        """
        old = self.read_config()
        if old is not None:
            if old.get("seed") != config.get("seed"):
                raise DataError(
                    f"{self.path} holds a study run with seed {old.get('seed')}, not "
                    f"{config.get('seed')}: use another --out folder, or the same seed to resume")
            old_sc = old.get("scenarios", {})
            for sid, params in config.get("scenarios", {}).items():
                if sid in old_sc and old_sc[sid] != params:
                    raise DataError(
                        f"scenario {sid} in {self.path} was run with parameters {old_sc[sid]}, "
                        f"not {params}: use another --out folder")
            merged = dict(old)
            merged["scenarios"] = {**old_sc, **config.get("scenarios", {})}
            merged["methods"] = list(dict.fromkeys([*old.get("methods", []),
                                                    *config.get("methods", [])]))
            merged["n_reps"] = max(int(old.get("n_reps", 0)), int(config.get("n_reps", 0)))
            config = merged
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_suffix(".json.tmp")
        with open(tmp, "w") as fh:
            json.dump(config, fh, indent=2, sort_keys=True)
        os.replace(tmp, self.config_file)

    # -- cells -------------------------------------------------------------
    def cell_file(self, scenario: object, rep: int) -> Path:
        return self.cells_dir / f"scenario={scenario}" / f"rep={int(rep):05d}.{self.format}"

    def read_cell(self, scenario: object, rep: int) -> pd.DataFrame | None:
        f = self.cell_file(scenario, rep)
        if not f.is_file():
            return None
        return self._read(f)

    def write_cell(self, scenario: object, rep: int, rows: pd.DataFrame) -> None:
        f = self.cell_file(scenario, rep)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.tmp")
        if self.format == "parquet":
            rows.to_parquet(tmp, index=False)
        else:
            rows.to_csv(tmp, index=False)
        os.replace(tmp, f)

    def done_methods(self, scenario: object, rep: int) -> set[str]:
        cell = self.read_cell(scenario, rep)
        return set() if cell is None else set(cell["method"])

    def failed_methods(self, scenario: object, rep: int) -> set[str]:
        """Methods of a cell stored with an error message."""
        cell = self.read_cell(scenario, rep)
        if cell is None:
            return set()
        return set(cell.loc[cell["error"].astype(str) != "", "method"])

    def _read(self, f: Path) -> pd.DataFrame:
        if f.suffix == ".parquet":
            return pd.read_parquet(f)
        df = pd.read_csv(f, dtype={"scenario": str, "method": str})
        for col in ("learner", "pooler", "error"):  # CSV turns "" into NaN
            if col in df:
                df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
        return df

    def files(self) -> Iterable[Path]:
        if not self.cells_dir.is_dir():
            return []
        return sorted(p for p in self.cells_dir.rglob("rep=*") if not p.name.startswith("."))

    def load(self) -> pd.DataFrame:
        """All finished rows, sorted by (scenario, replicate, method)."""
        files = list(self.files())
        if not files:
            raise DataError(f"no finished simulation cells in {self.path}: run "
                            f"`ipdma simstudy run ... --out {self.path}` first")
        df = pd.concat([self._read(f) for f in files], ignore_index=True)
        df["scenario"] = df["scenario"].astype(str)
        key = pd.to_numeric(df["scenario"], errors="coerce")
        df = df.assign(_k=key).sort_values(["_k", "scenario", "replicate", "method"])
        return df.drop(columns="_k").reset_index(drop=True)
