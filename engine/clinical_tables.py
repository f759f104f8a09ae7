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

from .compile import CompiledModel
from .ids import entity_uuid_strings
from .state_catalog import StateCatalog

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
) -> pl.DataFrame:
    """Add the UUID of the entry started by (state, visit) for each row's patient."""
    keys = model.kernel.state_key[frame[state].to_numpy()]
    ids = patients.ids[frame["patient"].to_numpy()]
    return frame.with_columns(
        pl.Series(name, entity_uuid_strings(keys, ids, frame[visit].to_numpy()))
    )


class ClinicalTableBuilder:
    def __init__(
        self, model: CompiledModel, catalog: StateCatalog, window_start: int, reference_time: int
    ):
        self.model = model
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

    def build(self, events: dict[str, np.ndarray], patients: ChunkPatients) -> dict[str, pa.Table]:
        frame = pl.DataFrame(events).with_columns(
            pl.Series("PATIENT", patients.uuids.take(pa.array(events["patient"])))
        )
        encounters = self._encounters(frame, patients)
        links = encounters.select("patient", "enc_state", "enc_visit", "Id", "time")
        tables = {"encounters": encounters}
        for name, (start, end) in ENTRY_KINDS.items():
            tables[name] = self._entries(frame, patients, links, start, end, name)
        tables["observations"] = self._observations(frame, links)
        tables["procedures"] = self._procedures(frame, links)
        tables["immunizations"] = self._immunizations(frame, links)
        tables["careplan_activities"] = self._activities(tables["careplans"])
        return {
            name: tables[name].select(cols.CLINICAL_TABLES[name]).to_arrow()
            for name in cols.CLINICAL_TABLES
        }

    # -- encounters --------------------------------------------------------------------
    def _encounters(self, frame: pl.DataFrame, patients: ChunkPatients) -> pl.DataFrame:
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
        return (
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
                # Organizations, providers, payers and costs are not modelled yet.
                pl.lit(None, pl.Utf8).alias("ORGANIZATION"),
                pl.lit(None, pl.Utf8).alias("PROVIDER"),
                pl.lit(None, pl.Utf8).alias("PAYER"),
                pl.lit(None, pl.Float64).alias("BASE_ENCOUNTER_COST"),
                pl.lit(None, pl.Float64).alias("TOTAL_CLAIM_COST"),
                pl.lit(None, pl.Float64).alias("PAYER_COVERAGE"),
                pl.col("state").alias("enc_state"),
                pl.col("visit").alias("enc_visit"),
            )
        )

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
        if table == "careplans":
            rows = _with_ids(rows, self.model, patients, "state", "visit", "Id")
        elif table == "medications":
            active_until = pl.col("end_time").fill_null(self.reference_time)
            days = (active_until - pl.col("time")) / 86400
            rows = rows.with_columns(
                pl.lit(None, pl.Utf8).alias("PAYER"),
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
                    "REACTION1",
                    "DESCRIPTION1",
                    "SEVERITY1",
                    "REACTION2",
                    "DESCRIPTION2",
                    "SEVERITY2",
                ),
                on="state",
                how="left",
                maintain_order="left",
            )
        elif table == "devices":
            rows = _with_ids(rows, self.model, patients, "state", "visit", "device_uuid")
            rows = rows.with_columns(_udi().alias("UDI"))
        return rows

    # -- point events -----------------------------------------------------------------
    def _observations(self, frame: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
        rows = frame.filter(pl.col("kind") == mc.E_OBSERVATION).with_columns(
            pl.col("sub").cast(pl.Int32)
        )
        rows = self._link(rows, links).join(
            self.catalog.observations, on=["state", "sub"], how="left", maintain_order="left"
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

    def _procedures(self, frame: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
        rows = frame.filter(pl.col("kind") == mc.E_PROCEDURE)
        rows = self._link(rows, links).join(
            self.codes, on="state", how="left", maintain_order="left"
        )
        return rows.join(self.reasons, on="reason", how="left", maintain_order="left").with_columns(
            _timestamp(pl.col("time")).alias("START"),
            _timestamp(pl.col("time") + pl.col("value").fill_nan(0.0).cast(pl.Int64)).alias("STOP"),
            pl.lit(None, pl.Float64).alias("BASE_COST"),
        )

    def _immunizations(self, frame: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
        rows = frame.filter(pl.col("kind") == mc.E_IMMUNIZATION)
        rows = self._link(rows, links).join(
            self.codes, on="state", how="left", maintain_order="left"
        )
        return rows.with_columns(
            _timestamp(pl.col("time")).alias("DATE"), pl.lit(None, pl.Float64).alias("BASE_COST")
        )

    def _activities(self, careplans: pl.DataFrame) -> pl.DataFrame:
        return careplans.select("state", pl.col("Id").alias("CAREPLAN"), "PATIENT").join(
            self.catalog.activities, on="state", how="inner", maintain_order="left"
        )


def _udi() -> pl.Expr:
    """A GS1-shaped UDI as Synthea writes one: (01) device identifier, (11) manufactured,
    (17) expiry, (10) lot, (21) serial; the digits come from the device's deterministic id."""
    hex_digits = pl.col("device_uuid").str.replace_all("-", "")
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
