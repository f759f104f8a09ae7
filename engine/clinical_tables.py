"""Event arrays from the kernel turned into Synthea-layout clinical tables, in bulk.

Every step works on whole columns. The kernel names each entry by (patient, state,
visit), so pairing entries with their end events, rows with their encounters and
observations with their panels is a binary search over packed integer keys that yields
row numbers; codes, descriptions and units come from the state catalog by state id.
Strings (UUIDs, codes, descriptions) are only ever gathered by those row numbers, once
per output column. Rows keep the kernel's order (patient, then time of emission), which
is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import polars.selectors as cs
import pyarrow as pa

from cohortforge.exporters import synthea_columns as cols
from cohortforge.kernels import machine_codes as mc

from .care_network import HOSPITAL_CLASSES, CareNetwork, PatientCare
from .compile import CompiledModel
from .entry_index import NO_ROW, EntryIndex, SameTimeIndex
from .ids import entity_uuids_by_index
from .observation_values import observation_values
from .state_catalog import StateCatalog

# Row ids of point events and panels: the state's id stream shifted by a per-kind
# offset (engine/ids.py), so an observation's id never equals its state's report id or
# another component's (a MultiObservation has one state for all its components).
REPORT_ID_OFFSET = 1 << 20
REPORT_COLUMNS = ("Id", "DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION")
# A point-in-time encounter (start == end) is given Synthea's typical 15-minute length.
MIN_ENCOUNTER_SECONDS = 15 * 60
DISPENSE_DAYS = 30
TIMESTAMP = pl.Datetime("us", "UTC")
ENTRY_KINDS = {
    # table: (start event, end event)
    "conditions": (mc.E_CONDITION_ONSET, mc.E_CONDITION_END),
    "allergies": (mc.E_ALLERGY_ONSET, mc.E_ALLERGY_END),
    "medications": (mc.E_MEDICATION_START, mc.E_MEDICATION_END),
    "careplans": (mc.E_CAREPLAN_START, mc.E_CAREPLAN_END),
    "devices": (mc.E_DEVICE_START, mc.E_DEVICE_END),
}
# Entries whose START/STOP are dates in Synthea's CSV; the others carry timestamps.
DATED_ENTRIES = ("conditions", "careplans", "allergies")
# Event columns of every row linked to an encounter and coded by its state.
_LINKED_COLUMNS = ("patient", "state", "time", "enc_state", "enc_visit")
ALLERGY_COLUMNS = {
    "TYPE": "ALLERGY_TYPE",
    "CATEGORY": "ALLERGY_CATEGORY",
    **{name: name for name in cols.ALLERGIES[cols.ALLERGIES.index("REACTION1") :]},
}


@dataclass(frozen=True)
class ChunkPatients:
    ids: np.ndarray  # uint64 global ids, by local index
    uuids: pa.Array  # patients.Id strings, by local index
    care: PatientCare  # where each patient gets care, by local index
    # Text exporters need an Id on every row and the panel links; tables alone do not,
    # and skipping them saves a UUID per observation in table-only runs.
    export_view: bool = True


@dataclass(frozen=True)
class ChunkTables:
    """The chunk's clinical tables for export (Synthea columns plus Id, REPORT and the
    reports table; see exporters/text_export.py) and its care-network utilisation."""

    frames: dict[str, pl.DataFrame]
    utilisation: dict[str, np.ndarray]

    def export_frames(self) -> dict[str, pl.DataFrame]:
        """The frames as the text exporters read them: the Enum (coded) columns as plain
        strings, so their output does not depend on how the tables carry codes."""
        return {
            name: frame.with_columns(cs.enum().cast(pl.Utf8)) for name, frame in self.frames.items()
        }

    def synthea_tables(self) -> dict[str, pa.Table]:
        """The tables in exactly Synthea's CSV layouts, for CSV and Parquet."""
        return {
            name: _arrow(self.frames[name].select(cols.CLINICAL_TABLES[name]))
            for name in cols.CLINICAL_TABLES
        }


def _arrow(frame: pl.DataFrame) -> pa.Table:
    """`frame` as Arrow without copying its strings: string_view columns, as Polars holds
    them (the default compat level converts every one to large_string), and Enum
    columns as dictionaries over large_string values (Parquet cannot write a dictionary
    of string_view; the dictionary is only the catalog). The writer stores large_string
    as the type readers see, and writes the same bytes. Per 20,000 patients, best of four
    alternating: conversion 0.058 -> 0.026 s of CPU, Parquet writer and csv_body
    unchanged within noise (0.555 -> 0.551, 1.769 -> 1.745 s)."""
    table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and pa.types.is_string_view(field.type.value_type):
            kind = pa.dictionary(field.type.index_type, pa.large_string(), field.type.ordered)
            chunks = [
                pa.DictionaryArray.from_arrays(
                    chunk.indices, chunk.dictionary.cast(pa.large_string()), ordered=kind.ordered
                )
                for chunk in table.column(i).chunks
            ]
            table = table.set_column(i, field.with_type(kind), pa.chunked_array(chunks, type=kind))
    return table


def _timestamp(seconds: pl.Expr) -> pl.Expr:
    # Integer microseconds cast straight to a UTC datetime: the same values as a naive
    # cast followed by replace_time_zone("UTC"), without the per-value zone conversion.
    return (seconds * 1_000_000).cast(TIMESTAMP)


def _date(seconds: pl.Expr) -> pl.Expr:
    return (seconds // 86400).cast(pl.Int32).cast(pl.Date)


def _with_null_row(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` plus one all-null row at the end: gathering that row stands for no match,
    as a left join would give."""
    return pl.concat([frame, frame.clear(1)]).rechunk()


def _enum(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (a run-wide catalog) with every string column as an Enum of its distinct
    values in order of first appearance.

    Codes, descriptions, units, categories, TYPE and the ORGANIZATION/PROVIDER/PAYER ids
    are gathered from these catalogs, so the tables carry them as Enum columns: a gather
    moves 1-2 byte indices instead of strings, `to_arrow` hands over an Arrow dictionary
    array (the indices plus the catalog) instead of converting every string view, and
    the Parquet writer, given the same dictionary in every chunk, writes it as the
    dictionary page instead of hashing every value (exporters/parquet_writer.py).
    Readers, CSV and the text exporters still see plain strings. CPU seconds per 20,000
    general_population patients (5 work units, one thread, old and new alternating, two
    rounds of best of three): synthea_tables 0.120-0.123 -> 0.053-0.057, Parquet writer
    0.649-0.660 -> 0.507-0.530, csv_body 2.20-2.28 -> 1.72-1.75 (exporters/csv_format.py);
    build itself unchanged within noise (0.366-0.392 -> 0.375-0.386)."""
    return frame.with_columns(
        pl.col(name).cast(pl.Enum(frame[name].drop_nulls().unique(maintain_order=True)))
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def _index(rows: np.ndarray) -> pl.Series:
    """Row numbers as Polars' own index type (UInt32): gathers by it skip the conversion
    and bounds pass that int64 NumPy indices go through, several times the gather."""
    return pl.Series(np.asarray(rows).astype(np.uint32, copy=False))


def _gather(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """Rows of a `_with_null_row` frame; NO_ROW picks its null row."""
    return frame[_index(np.where(rows < 0, frame.height - 1, rows))]


class _Rows:
    """Some of the chunk's events (one kind, perhaps filtered). Each column is a slice
    of the chunk's kind-ordered columns (events.events_by_kind), indexed at most once
    however many times the tables use it when only some rows are kept."""

    def __init__(self, source: dict[str, np.ndarray], size: int, keep: np.ndarray | None = None):
        self._source = source
        self._keep = keep  # positions in `source` of these rows; None for all of them
        self.size = size
        self._columns: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        column = self._columns.get(name)
        if column is None:
            column = self._source[name]
            if self._keep is not None:
                column = np.take(column, self._keep)
            self._columns[name] = column
        return column

    def load(self, *names: str) -> _Rows:
        """Take the named columns now (they are slices already unless rows were dropped)."""
        for name in names:
            self[name]
        return self

    def where(self, keep: np.ndarray) -> _Rows:
        positions = np.arange(self.size) if self._keep is None else self._keep
        kept_positions = positions[keep]
        kept = _Rows(self._source, kept_positions.size, kept_positions)
        kept._columns = {name: column[keep] for name, column in self._columns.items()}
        return kept

    def entries(self, state: str = "state", visit: str = "visit") -> tuple[np.ndarray, ...]:
        """(patient, state, visit): the entry each row starts, or with enc_state and
        enc_visit the entry (encounter, or entry being ended) it refers to."""
        return self["patient"], self[state], self[visit]


class _Chunk:
    """One build's events with what every table shares: the rows of each event kind,
    the patients' Ids, and the encounters that other rows link to."""

    def __init__(
        self,
        events: dict[str, np.ndarray],
        kind_bounds: np.ndarray,
        patients: ChunkPatients,
        n_states: int,
    ):
        self.patients = patients
        self.n_states = n_states
        self.patient_uuids = pl.Series("PATIENT", patients.uuids)
        self._by_kind, self._kind_bounds = events, kind_bounds
        # Every visit number of the chunk packs below this (EntryIndex keys).
        visits = [int(events[name].max()) for name in ("visit", "enc_visit") if events[name].size]
        self.visit_span = max([0, *visits]) + 1
        self.encounter_ids = pl.Series("ENCOUNTER", dtype=pl.Utf8)
        self._encounters: EntryIndex | None = None
        self._starting: SameTimeIndex | None = None
        self._following = np.zeros(0, dtype=np.int64)

    def kind(self, kind: int) -> _Rows:
        lo, hi = int(self._kind_bounds[kind]), int(self._kind_bounds[kind + 1])
        return _Rows({name: column[lo:hi] for name, column in self._by_kind.items()}, hi - lo)

    def index(self, rows: _Rows) -> EntryIndex:
        """The entries `rows` start, by (patient, state, visit)."""
        return EntryIndex(
            *rows.entries(),
            max(len(self.patients.ids), 1),
            self.n_states,
            self.visit_span,
        )

    def end_times(
        self, starts: _Rows, index: EntryIndex, end_kind: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(end time, has an end) of each entry started at `starts` (indexed by `index`):
        its end event names the entry in enc_state/enc_visit."""
        ends = self.kind(end_kind).load("patient", "enc_state", "enc_visit", "time")
        return index.end_times(*ends.entries("enc_state", "enc_visit"), ends["time"], starts.size)

    def set_encounters(self, encounters: _Rows, index: EntryIndex, ids: pl.Series) -> None:
        self._encounters = index
        self.encounter_ids = _with_null_row(ids.rename("ENCOUNTER").to_frame())["ENCOUNTER"]
        # Encounters sorted by (patient, time) with Polars' sort, as the forward as-of
        # join that defines the link sorted them: among encounters starting at the same
        # instant, this order picks the one a row at that instant links to.
        following = pl.DataFrame(
            {
                "patient": encounters["patient"],
                "time": encounters["time"],
                "encounter": np.arange(encounters.size, dtype=np.int64),
            }
        ).sort("patient", "time")
        self._following = following["encounter"].to_numpy()
        self._starting = SameTimeIndex(
            following["patient"].to_numpy(),
            following["time"].to_numpy(),
            max(len(self.patients.ids), 1),
        )

    def encounter(self, rows: _Rows) -> pl.Series:
        """ENCOUNTER: the row's own encounter if it was exported.

        An entry recorded just before its encounter starts (a ConditionOnset with
        target_encounter, followed at the same instant by the Encounter state) belongs
        to that encounter, as in Synthea: the first encounter of the patient starting at
        the same time (a forward as-of join with zero tolerance). Only rows recorded
        outside any encounter take the next one; a row whose own encounter predates the
        export window keeps no link rather than a wrong one.
        """
        assert self._encounters is not None and self._starting is not None
        linked = self._encounters.find(*rows.entries("enc_state", "enc_visit"))
        outside = np.flatnonzero(rows["enc_state"] < 0)
        if outside.size:
            at = self._starting.first_at(rows["patient"][outside], rows["time"][outside])
            linked[outside] = np.where(at < 0, NO_ROW, self._following[np.maximum(at, 0)])
        return self.encounter_ids.gather(
            _index(np.where(linked < 0, self.encounter_ids.len() - 1, linked))
        )

    def patient(self, rows: _Rows) -> pl.Series:
        return self.patient_uuids.gather(_index(rows["patient"]))

    def ids(
        self, model: CompiledModel, rows: _Rows, offset: np.ndarray | int | None = None
    ) -> pl.Series:
        """The UUID of the entry started by each row's (state, visit) for its patient;
        `offset` picks another id of the same entry (an observation component, a report)."""
        uuids = entity_uuids_by_index(
            rows["state"],
            rows["patient"],
            rows["visit"],
            model.kernel.state_key,
            self.patients.ids,
            offset,
        )
        return pl.Series("Id", uuids)


class ClinicalTableBuilder:
    def __init__(
        self,
        model: CompiledModel,
        catalog: StateCatalog,
        window_start: int,
        reference_time: int,
        network: CareNetwork,
    ):
        self.model = model
        self.network = network
        self.catalog = catalog
        self.window_start = window_start
        self.reference_time = reference_time
        # The catalog by state id (one row per id, then the null row for "no state"), so
        # codes are gathered by row number instead of joined per table.
        self.n_states = len(model.states)
        by_state = pl.DataFrame({"state": np.arange(self.n_states, dtype=np.int32)}).join(
            catalog.states, on="state", how="left", maintain_order="left"
        )
        self.states = _with_null_row(_enum(by_state.drop("state")))
        self.codes = self.states.select("SYSTEM", "CODE", "DESCRIPTION")
        self.reasons = self.states.select(
            pl.col("CODE").alias("REASONCODE"), pl.col("DESCRIPTION").alias("REASONDESCRIPTION")
        )
        self.allergy = self.states.select(
            pl.col(source).alias(name) for name, source in ALLERGY_COLUMNS.items()
        )
        self.at_hospital = (
            self.states["ENCOUNTERCLASS"]
            .cast(pl.String)
            .is_in(HOSPITAL_CLASSES)
            .fill_null(False)
            .to_numpy()
        )
        # Observation components by (state, sub): a dense slot table over the catalog.
        observations = catalog.observations.filter(
            pl.col("state").is_between(0, self.n_states - 1) & (pl.col("sub") >= 0)
        )
        self.n_subs = int(observations["sub"].max() or 0) + 1
        self.observation_row = np.full(self.n_states * self.n_subs, NO_ROW, dtype=np.int64)
        self.observation_row[
            observations["state"].to_numpy().astype(np.int64) * self.n_subs
            + observations["sub"].to_numpy()
        ] = np.arange(observations.height)
        self.observations = _with_null_row(
            _enum(observations.select("CODE", "DESCRIPTION", "CATEGORY", "UNITS"))
        )
        self.value_texts = observations["VALUE_TEXT"]
        # TYPE by catalog row, then null (no row), then "numeric" for numeric values.
        types = pl.concat(
            [observations["TYPE"], pl.Series("TYPE", [None, "numeric"], dtype=pl.Utf8)]
        ).rechunk()  # one chunk: gathers from several chunks cost several times more
        self.observation_types = _enum(types.to_frame())["TYPE"]
        self.care_ids = {
            "ORGANIZATION": _enum(network.organizations.select("Id"))["Id"],
            "PROVIDER": _enum(network.providers.select("Id"))["Id"],
            "PAYER": _enum(network.payers.select("Id"))["Id"],
        }
        self.activities = _enum(catalog.activities)

    def _state_rows(self, state: np.ndarray) -> np.ndarray:
        """Row of each state id in self.states; ids outside the model (the kernel's -1
        for "none") pick the null row."""
        rows = np.where((state >= 0) & (state < self.n_states), state, self.n_states)
        return rows.astype(np.uint32)

    def _codes(self, rows: _Rows, columns: pl.DataFrame) -> pl.DataFrame:
        return columns[_index(self._state_rows(rows["state"]))]

    def _reasons(self, rows: _Rows) -> pl.DataFrame:
        return self.reasons[_index(self._state_rows(rows["reason"]))]

    def build(
        self, events: dict[str, np.ndarray], kind_bounds: np.ndarray, patients: ChunkPatients
    ) -> ChunkTables:
        """The chunk's tables from run_kernel's events (ordered by kind, with their
        bounds) and its patients."""
        chunk = _Chunk(events, kind_bounds, patients, self.n_states)
        tables = {}
        tables["encounters"], utilisation = self._encounters(chunk)
        entries = {name: self._entries(chunk, name, *kinds) for name, kinds in ENTRY_KINDS.items()}
        reports, report_index = self._reports(chunk) if patients.export_view else (None, None)
        tables["conditions"] = entries["conditions"]
        tables["medications"] = entries["medications"]
        tables["observations"] = self._observations(chunk, report_index, reports)
        tables["procedures"] = self._procedures(chunk)
        tables["immunizations"] = self._immunizations(chunk)
        careplans = entries["careplans"]
        tables["careplans"] = careplans.drop("state")
        tables["careplan_activities"] = self._activities(careplans)
        tables["allergies"] = entries["allergies"]
        tables["devices"] = entries["devices"]
        frames = {}
        for name, columns in cols.CLINICAL_TABLES.items():
            extra = [c for c in ("Id", "REPORT") if c in tables[name].columns and c not in columns]
            frames[name] = tables[name].select(*columns, *extra)
        if reports is not None:
            frames["reports"] = reports
        return ChunkTables(frames, utilisation)

    # -- encounters --------------------------------------------------------------------
    def _encounters(self, chunk: _Chunk) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
        rows = chunk.kind(mc.E_ENCOUNTER_START).load("patient", "state", "visit", "time", "reason")
        ids = chunk.ids(self.model, rows)
        index = chunk.index(rows)
        chunk.set_encounters(rows, index, ids)
        time = rows["time"]
        end_time, has_end = chunk.end_times(rows, index, mc.E_ENCOUNTER_END)
        stop = np.maximum(np.where(has_end, end_time, time), time + MIN_ENCOUNTER_SECONDS)
        state_rows = self._state_rows(rows["state"])
        care, utilisation = self._care(chunk, rows["patient"], state_rows)
        frame = pl.DataFrame(
            [
                ids,
                pl.Series("time", time),
                pl.Series("stop", stop),
                chunk.patient(rows),
                *care,
                self.states["ENCOUNTERCLASS"].gather(_index(state_rows)),
                *self.codes[_index(state_rows)],
                *self._reasons(rows),
            ]
        ).with_columns(
            _timestamp(pl.col("time")).alias("START"),
            _timestamp(pl.col("stop")).alias("STOP"),
            # Costs are not modelled.
            pl.lit(None, pl.Float64).alias("BASE_ENCOUNTER_COST"),
            pl.lit(None, pl.Float64).alias("TOTAL_CLAIM_COST"),
            pl.lit(None, pl.Float64).alias("PAYER_COVERAGE"),
        )
        return frame, utilisation

    def _care(
        self, chunk: _Chunk, patient: np.ndarray, state_rows: np.ndarray
    ) -> tuple[list[pl.Series], dict[str, np.ndarray]]:
        """ORGANIZATION, PROVIDER and PAYER of each encounter, and the counts behind the
        network tables' utilisation columns."""
        care = chunk.patients.care
        at_hospital = self.at_hospital[state_rows]
        organization = np.where(at_hospital, care.hospital[patient], care.clinic[patient])
        provider = np.where(at_hospital, care.hospitalist[patient], care.clinician[patient])
        payer = care.payer[patient]
        network = self.network
        columns = [
            self.care_ids["ORGANIZATION"].gather(_index(organization)).rename("ORGANIZATION"),
            self.care_ids["PROVIDER"].gather(_index(provider)).rename("PROVIDER"),
            self.care_ids["PAYER"].gather(_index(payer)).rename("PAYER"),
        ]
        utilisation = {
            "organizations": np.bincount(organization, minlength=network.organizations.height),
            "providers": np.bincount(provider, minlength=network.providers.height),
            "payers": np.bincount(payer, minlength=network.payers.height),
            "payer_members": np.bincount(care.payer, minlength=network.payers.height),
        }
        return columns, utilisation

    # -- entries -------------------------------------------------------------------------
    def _entries(self, chunk: _Chunk, table: str, start_kind: int, end_kind: int) -> pl.DataFrame:
        rows = chunk.kind(start_kind).load(*_LINKED_COLUMNS, "visit", "reason")
        end_time, has_end = chunk.end_times(rows, chunk.index(rows), end_kind)
        # Exported: active at the window start or started inside the window.
        kept = ~has_end | (end_time >= self.window_start)
        rows, end_time, has_end = rows.where(kept), end_time[kept], has_end[kept]
        time = rows["time"]
        columns = [
            pl.Series("time", time),
            pl.Series("end_time", end_time).set(pl.Series(~has_end), None),
            chunk.patient(rows),
            chunk.encounter(rows),
            *self._codes(rows, self.codes),
            *self._reasons(rows),
        ]
        if chunk.patients.export_view or table in ("careplans", "devices"):  # own Id / UDI
            columns.append(chunk.ids(self.model, rows))
        if table == "careplans":  # for the activities
            columns.append(pl.Series("state", rows["state"]))
        if table == "medications":
            payer = chunk.patients.care.payer[rows["patient"]]
            columns.append(self.care_ids["PAYER"].gather(_index(payer)).rename("PAYER"))
        elif table == "allergies":
            columns.extend(self._codes(rows, self.allergy))
        frame = pl.DataFrame(columns)
        if table in DATED_ENTRIES:
            start, stop = _date(pl.col("time")), _date(pl.col("end_time"))
        else:
            start, stop = _timestamp(pl.col("time")), _timestamp(pl.col("end_time"))
        frame = frame.with_columns(start.alias("START"), stop.alias("STOP"))
        if table == "medications":
            active_until = pl.col("end_time").fill_null(self.reference_time)
            days = (active_until - pl.col("time")) / 86400
            frame = frame.with_columns(
                pl.lit(None, pl.Float64).alias("BASE_COST"),
                pl.lit(None, pl.Float64).alias("PAYER_COVERAGE"),
                (1 + (days // DISPENSE_DAYS)).cast(pl.Int64).alias("DISPENSES"),
                pl.lit(None, pl.Float64).alias("TOTALCOST"),
            )
        elif table == "devices":
            frame = frame.with_columns(_udi(pl.col("Id")).alias("UDI"))
        return frame

    # -- point events -----------------------------------------------------------------
    def _reports(self, chunk: _Chunk) -> tuple[pl.DataFrame, EntryIndex]:
        """The reports table (panels), and its rows by (patient, state, visit)."""
        rows = chunk.kind(mc.E_REPORT).load(*_LINKED_COLUMNS, "visit")
        frame = pl.DataFrame(
            [
                chunk.ids(self.model, rows, REPORT_ID_OFFSET),
                pl.Series("time", rows["time"]),
                chunk.patient(rows),
                chunk.encounter(rows),
                *self._codes(rows, self.codes.select("CODE", "DESCRIPTION")),
            ]
        ).select(
            "Id",
            _timestamp(pl.col("time")).alias("DATE"),
            *REPORT_COLUMNS[2:],
        )
        return frame, chunk.index(rows)

    def _observations(
        self, chunk: _Chunk, report_index: EntryIndex | None, reports: pl.DataFrame | None
    ) -> pl.DataFrame:
        rows = chunk.kind(mc.E_OBSERVATION).load(*_LINKED_COLUMNS, "sub", "value")
        if chunk.patients.export_view:
            rows.load("visit")
        state = rows["state"]
        sub = rows["sub"].astype(np.int64)
        known = (state >= 0) & (state < self.n_states) & (sub >= 0) & (sub < self.n_subs)
        slot = np.where(known, state.astype(np.int64) * self.n_subs + sub, 0)
        catalog_rows = np.where(known, self.observation_row[slot], NO_ROW)
        value = rows["value"]
        no_row = self.value_texts.len()
        type_rows = np.where(
            np.isnan(value), np.where(catalog_rows < 0, no_row, catalog_rows), no_row + 1
        )
        columns = [
            pl.Series("time", rows["time"]),
            chunk.patient(rows),
            chunk.encounter(rows),
            *_gather(self.observations, catalog_rows),
            observation_values(value, self.value_texts, catalog_rows),
            self.observation_types.gather(_index(type_rows)),
        ]
        if reports is not None and report_index is not None:
            sub_ids = chunk.ids(self.model, rows, rows["sub"])
            panel = report_index.find(*rows.entries())
            report_ids = _with_null_row(reports.select(pl.col("Id").alias("REPORT")))
            columns += [sub_ids, *_gather(report_ids, panel)]
        return pl.DataFrame(columns).with_columns(_timestamp(pl.col("time")).alias("DATE"))

    def _coded_point_events(self, chunk: _Chunk, kind: int) -> tuple[_Rows, list[pl.Series]]:
        """Point events of one kind: their rows, and their time, patient, encounter link,
        code and (for exporters) Id."""
        rows = chunk.kind(kind).load(*_LINKED_COLUMNS, "reason", "value")
        if chunk.patients.export_view:
            rows.load("visit")
        columns = [
            pl.Series("time", rows["time"]),
            chunk.patient(rows),
            chunk.encounter(rows),
            *self._codes(rows, self.codes),
        ]
        if chunk.patients.export_view:
            columns.append(chunk.ids(self.model, rows))
        return rows, columns

    def _procedures(self, chunk: _Chunk) -> pl.DataFrame:
        rows, columns = self._coded_point_events(chunk, mc.E_PROCEDURE)
        duration = pl.col("value").fill_nan(0.0).cast(pl.Int64)
        return pl.DataFrame(
            [*columns, pl.Series("value", rows["value"]), *self._reasons(rows)]
        ).with_columns(
            _timestamp(pl.col("time")).alias("START"),
            _timestamp(pl.col("time") + duration).alias("STOP"),
            pl.lit(None, pl.Float64).alias("BASE_COST"),
        )

    def _immunizations(self, chunk: _Chunk) -> pl.DataFrame:
        _, columns = self._coded_point_events(chunk, mc.E_IMMUNIZATION)
        return pl.DataFrame(columns).with_columns(
            _timestamp(pl.col("time")).alias("DATE"), pl.lit(None, pl.Float64).alias("BASE_COST")
        )

    def _activities(self, careplans: pl.DataFrame) -> pl.DataFrame:
        return careplans.select("state", pl.col("Id").alias("CAREPLAN"), "PATIENT").join(
            self.activities, on="state", how="inner", maintain_order="left"
        )


def _udi(device_id: pl.Expr) -> pl.Expr:
    """A GS1-shaped UDI as Synthea writes one: (01) device identifier, (11) manufactured,
    (17) expiry, (10) lot, (21) serial; the digits come from the device's deterministic id."""
    hex_digits = device_id.str.replace_all("-", "")
    decimal = hex_digits.str.replace_all("[a-f]", "0")
    return pl.concat_str(
        pl.lit("(01)"),
        decimal.str.slice(0, 14),
        pl.lit("(11)"),
        _date(pl.col("time")).dt.strftime("%y%m%d"),
        pl.lit("(17)"),
        _date(pl.col("time") + 2 * 365 * 86400).dt.strftime("%y%m%d"),
        pl.lit("(10)"),
        decimal.str.slice(14, 8),
        pl.lit("(21)"),
        decimal.str.slice(22, 8),
    )


def death_dates(
    events: dict[str, np.ndarray], kind_bounds: np.ndarray, n_patients: int
) -> pa.Array:
    """DEATHDATE per patient (local index) from the death events (run_kernel's events,
    ordered by kind); null when alive."""
    deaths = slice(int(kind_bounds[mc.E_DEATH]), int(kind_bounds[mc.E_DEATH + 1]))
    days = np.full(n_patients, np.iinfo(np.int32).min, dtype=np.int64)
    days[events["patient"][deaths]] = events["time"][deaths] // 86400
    alive = days == np.iinfo(np.int32).min
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=alive).cast(pa.date32())
