"""Event arrays from the kernel turned into Synthea-layout clinical tables, in bulk.

Every step is a Polars join or expression over whole columns: entries are paired with
their end events, encounters with theirs, and codes, descriptions and units come from
the state catalog by state id. Rows keep the kernel's order (patient, then time of
emission), which is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.exporters import synthea_columns as cols
from cohortforge.kernels import machine_codes as mc

from .care_network import HOSPITAL_CLASSES, CareNetwork, PatientCare
from .compile import CompiledModel
from .ids import entity_uuid_strings
from .state_catalog import StateCatalog

# Row ids of point events and panels: the state's id stream shifted by a per-kind
# offset, so an observation's id never equals its state's report id or another
# component's (a MultiObservation has one state for all its components).
_ID_STEP = np.uint64(0x9E3779B97F4A7C15)
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

    def synthea_tables(self) -> dict[str, pa.Table]:
        """The tables in exactly Synthea's CSV layouts, for CSV and Parquet."""
        return {
            name: self.frames[name].select(cols.CLINICAL_TABLES[name]).to_arrow()
            for name in cols.CLINICAL_TABLES
        }


def _timestamp(seconds: pl.Expr) -> pl.Expr:
    return (seconds * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _date(seconds: pl.Expr) -> pl.Expr:
    return (seconds // 86400).cast(pl.Int32).cast(pl.Date)


def _with_ids(
    frame: pl.DataFrame,
    model: CompiledModel,
    patients: ChunkPatients,
    state: str,
    visit: str,
    name: str,
    offset: np.ndarray | int | None = None,
) -> pl.DataFrame:
    """Add the UUID of the entry started by (state, visit) for each row's patient;
    `offset` picks another id of the same entry (an observation component, a report)."""
    keys = model.kernel.state_key[frame[state].to_numpy()]
    if offset is not None:
        with np.errstate(over="ignore"):  # wrapping uint64 arithmetic is intended
            keys = keys + (np.asarray(offset, dtype=np.uint64) + np.uint64(1)) * _ID_STEP
    ids = patients.ids[frame["patient"].to_numpy()]
    return frame.with_columns(
        pl.Series(name, entity_uuid_strings(keys, ids, frame[visit].to_numpy()))
    )


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
        self.codes = catalog.states.select(
            pl.col("state"), pl.col("SYSTEM"), pl.col("CODE"), pl.col("DESCRIPTION")
        )
        self.reasons = catalog.states.select(
            pl.col("state").alias("reason"),
            pl.col("CODE").alias("REASONCODE"),
            pl.col("DESCRIPTION").alias("REASONDESCRIPTION"),
        )

    def build(self, events: dict[str, np.ndarray], patients: ChunkPatients) -> ChunkTables:
        frame = pl.DataFrame(events).with_columns(
            pl.Series("PATIENT", patients.uuids.take(pa.array(events["patient"])))
        )
        encounters, utilisation = self._encounters(frame, patients)
        links = encounters.select("patient", "enc_state", "enc_visit", "Id", "time")
        tables = {"encounters": encounters}
        for name, (start, end) in ENTRY_KINDS.items():
            tables[name] = self._entries(frame, patients, links, start, end, name)
        reports = self._reports(frame, patients, links) if patients.export_view else None
        tables["observations"] = self._observations(frame, patients, links, reports)
        tables["procedures"] = self._procedures(frame, patients, links)
        tables["immunizations"] = self._immunizations(frame, patients, links)
        tables["careplan_activities"] = self._activities(tables["careplans"])
        frames = {}
        for name in cols.CLINICAL_TABLES:
            columns = cols.CLINICAL_TABLES[name]
            extra = [c for c in ("Id", "REPORT") if c in tables[name].columns and c not in columns]
            frames[name] = tables[name].select(*columns, *extra)
        if reports is not None:
            frames["reports"] = reports.select(REPORT_COLUMNS)
        return ChunkTables(frames, utilisation)

    # -- encounters --------------------------------------------------------------------
    def _encounters(
        self, frame: pl.DataFrame, patients: ChunkPatients
    ) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
        starts = frame.filter(pl.col("kind") == mc.E_ENCOUNTER_START)
        ends = frame.filter(pl.col("kind") == mc.E_ENCOUNTER_END).select(
            "patient",
            pl.col("enc_state").alias("state"),
            pl.col("enc_visit").alias("visit"),
            pl.col("time").alias("end_time"),
        )
        starts = starts.join(
            ends, on=["patient", "state", "visit"], how="left", maintain_order="left"
        )
        starts = _with_ids(starts, self.model, patients, "state", "visit", "Id")
        stop = pl.max_horizontal(
            pl.col("end_time").fill_null(pl.col("time")), pl.col("time") + MIN_ENCOUNTER_SECONDS
        )
        rows = (
            starts.join(self.codes, on="state", how="left", maintain_order="left")
            .join(
                self.catalog.states.select("state", "ENCOUNTERCLASS"),
                on="state",
                how="left",
                maintain_order="left",
            )
            .join(self.reasons, on="reason", how="left", maintain_order="left")
            .with_columns(
                _timestamp(pl.col("time")).alias("START"),
                _timestamp(stop).alias("STOP"),
                # Costs are not modelled.
                pl.lit(None, pl.Float64).alias("BASE_ENCOUNTER_COST"),
                pl.lit(None, pl.Float64).alias("TOTAL_CLAIM_COST"),
                pl.lit(None, pl.Float64).alias("PAYER_COVERAGE"),
                pl.col("state").alias("enc_state"),
                pl.col("visit").alias("enc_visit"),
            )
        )
        return self._care(rows, patients.care)

    def _care(
        self, rows: pl.DataFrame, care: PatientCare
    ) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
        """ORGANIZATION, PROVIDER and PAYER of each encounter, and the counts behind the
        network tables' utilisation columns."""
        patient = rows["patient"].to_numpy()
        at_hospital = rows["ENCOUNTERCLASS"].is_in(HOSPITAL_CLASSES).fill_null(False).to_numpy()
        organization = np.where(at_hospital, care.hospital[patient], care.clinic[patient])
        provider = np.where(at_hospital, care.hospitalist[patient], care.clinician[patient])
        payer = care.payer[patient]
        network = self.network
        rows = rows.with_columns(
            pl.Series("ORGANIZATION", network.organizations["Id"].gather(organization)),
            pl.Series("PROVIDER", network.providers["Id"].gather(provider)),
            pl.Series("PAYER", network.payers["Id"].gather(payer)),
        )
        utilisation = {
            "organizations": np.bincount(organization, minlength=network.organizations.height),
            "providers": np.bincount(provider, minlength=network.providers.height),
            "payers": np.bincount(payer, minlength=network.payers.height),
            "payer_members": np.bincount(care.payer, minlength=network.payers.height),
        }
        return rows, utilisation

    def _link(self, rows: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
        """ENCOUNTER: the row's own encounter if it was exported.

        An entry recorded just before its encounter starts (a ConditionOnset with
        target_encounter, followed at the same instant by the Encounter state) belongs
        to that encounter, as in Synthea: a forward as-of join with zero tolerance
        finds an encounter starting at the same time.
        """
        own = rows.join(
            links.select("patient", "enc_state", "enc_visit", pl.col("Id").alias("ENCOUNTER")),
            on=["patient", "enc_state", "enc_visit"],
            how="left",
            maintain_order="left",
        )
        following = links.select("patient", "time", pl.col("Id").alias("NEXT_ENCOUNTER")).sort(
            "patient", "time"
        )
        ordered = own.with_row_index("row").sort("patient", "time")
        linked = ordered.join_asof(
            following,
            on="time",
            by="patient",
            strategy="forward",
            tolerance=0,
            check_sortedness=False,
        )
        # Only rows recorded outside any encounter take the next one; a row whose own
        # encounter predates the export window keeps no link rather than a wrong one.
        return (
            linked.sort("row")
            .with_columns(
                pl.when(pl.col("enc_state") < 0)
                .then(pl.col("NEXT_ENCOUNTER"))
                .otherwise(pl.col("ENCOUNTER"))
                .alias("ENCOUNTER")
            )
            .drop("row", "NEXT_ENCOUNTER")
        )

    # -- entries -------------------------------------------------------------------------
    def _entries(
        self,
        frame: pl.DataFrame,
        patients: ChunkPatients,
        links: pl.DataFrame,
        start_kind: int,
        end_kind: int,
        table: str,
    ) -> pl.DataFrame:
        starts = frame.filter(pl.col("kind") == start_kind)
        ends = frame.filter(pl.col("kind") == end_kind).select(
            "patient",
            pl.col("enc_state").alias("state"),
            pl.col("enc_visit").alias("visit"),
            pl.col("time").alias("end_time"),
        )
        rows = starts.join(
            ends, on=["patient", "state", "visit"], how="left", maintain_order="left"
        )
        # Exported: active at the window start or started inside the window.
        rows = rows.filter(pl.col("end_time").is_null() | (pl.col("end_time") >= self.window_start))
        rows = self._link(rows, links)
        rows = rows.join(self.codes, on="state", how="left", maintain_order="left").join(
            self.reasons, on="reason", how="left", maintain_order="left"
        )
        if table in ("conditions", "careplans", "allergies"):
            start, stop = _date(pl.col("time")), _date(pl.col("end_time"))
        else:
            start, stop = _timestamp(pl.col("time")), _timestamp(pl.col("end_time"))
        rows = rows.with_columns(start.alias("START"), stop.alias("STOP"))
        if patients.export_view or table in ("careplans", "devices"):  # their own Id / UDI
            rows = _with_ids(rows, self.model, patients, "state", "visit", "Id")
        if table == "medications":
            active_until = pl.col("end_time").fill_null(self.reference_time)
            days = (active_until - pl.col("time")) / 86400
            payer_row = patients.care.payer[rows["patient"].to_numpy()]
            payer = self.network.payers["Id"].gather(payer_row)
            rows = rows.with_columns(
                pl.Series("PAYER", payer),
                pl.lit(None, pl.Float64).alias("BASE_COST"),
                pl.lit(None, pl.Float64).alias("PAYER_COVERAGE"),
                (1 + (days // DISPENSE_DAYS)).cast(pl.Int64).alias("DISPENSES"),
                pl.lit(None, pl.Float64).alias("TOTALCOST"),
            )
        elif table == "allergies":
            rows = rows.join(
                self.catalog.states.select(
                    "state",
                    pl.col("ALLERGY_TYPE").alias("TYPE"),
                    pl.col("ALLERGY_CATEGORY").alias("CATEGORY"),
                    *cols.ALLERGIES[cols.ALLERGIES.index("REACTION1") :],
                ),
                on="state",
                how="left",
                maintain_order="left",
            )
        elif table == "devices":
            rows = rows.with_columns(_udi(pl.col("Id")).alias("UDI"))
        return rows

    # -- point events -----------------------------------------------------------------
    def _reports(
        self, frame: pl.DataFrame, patients: ChunkPatients, links: pl.DataFrame
    ) -> pl.DataFrame:
        rows = frame.filter(pl.col("kind") == mc.E_REPORT)
        rows = _with_ids(
            self._link(rows, links), self.model, patients, "state", "visit", "Id", REPORT_ID_OFFSET
        )
        return rows.join(self.codes, on="state", how="left", maintain_order="left").with_columns(
            _timestamp(pl.col("time")).alias("DATE")
        )

    def _observations(
        self,
        frame: pl.DataFrame,
        patients: ChunkPatients,
        links: pl.DataFrame,
        reports: pl.DataFrame | None,
    ) -> pl.DataFrame:
        rows = frame.filter(pl.col("kind") == mc.E_OBSERVATION).with_columns(
            pl.col("sub").cast(pl.Int32)
        )
        if reports is not None:
            sub = rows["sub"].to_numpy()
            rows = _with_ids(rows, self.model, patients, "state", "visit", "Id", sub)
        rows = self._link(rows, links).join(
            self.catalog.observations, on=["state", "sub"], how="left", maintain_order="left"
        )
        if reports is not None:
            rows = rows.join(
                reports.select("patient", "state", "visit", pl.col("Id").alias("REPORT")),
                on=["patient", "state", "visit"],
                how="left",
                maintain_order="left",
            )
        numeric = pl.col("value").is_not_nan()
        return rows.with_columns(
            _timestamp(pl.col("time")).alias("DATE"),
            pl.when(numeric)
            .then(pl.col("value").round(2).cast(pl.Utf8))
            .otherwise(pl.col("VALUE_TEXT"))
            .alias("VALUE"),
            pl.when(numeric).then(pl.lit("numeric")).otherwise(pl.col("TYPE")).alias("TYPE"),
        )

    def _coded_point_events(
        self, frame: pl.DataFrame, patients: ChunkPatients, links: pl.DataFrame, kind: int
    ) -> pl.DataFrame:
        """Point events of one kind with their encounter link, code and (for exporters) Id."""
        rows = frame.filter(pl.col("kind") == kind)
        if patients.export_view:
            rows = _with_ids(rows, self.model, patients, "state", "visit", "Id")
        return self._link(rows, links).join(
            self.codes, on="state", how="left", maintain_order="left"
        )

    def _procedures(
        self, frame: pl.DataFrame, patients: ChunkPatients, links: pl.DataFrame
    ) -> pl.DataFrame:
        rows = self._coded_point_events(frame, patients, links, mc.E_PROCEDURE)
        return rows.join(self.reasons, on="reason", how="left", maintain_order="left").with_columns(
            _timestamp(pl.col("time")).alias("START"),
            _timestamp(pl.col("time") + pl.col("value").fill_nan(0.0).cast(pl.Int64)).alias("STOP"),
            pl.lit(None, pl.Float64).alias("BASE_COST"),
        )

    def _immunizations(
        self, frame: pl.DataFrame, patients: ChunkPatients, links: pl.DataFrame
    ) -> pl.DataFrame:
        rows = self._coded_point_events(frame, patients, links, mc.E_IMMUNIZATION)
        return rows.with_columns(
            _timestamp(pl.col("time")).alias("DATE"), pl.lit(None, pl.Float64).alias("BASE_COST")
        )

    def _activities(self, careplans: pl.DataFrame) -> pl.DataFrame:
        return careplans.select("state", pl.col("Id").alias("CAREPLAN"), "PATIENT").join(
            self.catalog.activities, on="state", how="inner", maintain_order="left"
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


def death_dates(events: dict[str, np.ndarray], n_patients: int) -> pa.Array:
    """DEATHDATE per patient (local index) from the death events; null when alive."""
    is_death = events["kind"] == mc.E_DEATH
    days = np.full(n_patients, np.iinfo(np.int32).min, dtype=np.int64)
    days[events["patient"][is_death]] = events["time"][is_death] // 86400
    alive = days == np.iinfo(np.int32).min
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=alive).cast(pa.date32())
