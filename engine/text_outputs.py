"""Which text exporters a run uses, and the context they share."""

from __future__ import annotations

import datetime as dt

from cohortforge.exporters.text_export import ExportContext, TextExporter

from .care_network import CareNetwork
from .config import RunConfig
from .ids import uuid_strings
from .streams import stream_key


def text_exporters(config: RunConfig) -> tuple[TextExporter, ...]:
    """The exporters `config` asks for, in a fixed order (imported only when asked for)."""
    exporters: list[TextExporter] = []
    if config.fhir:
        from cohortforge.exporters.fhir.exporter import FhirExporter

        exporters.append(FhirExporter())
    if config.hl7:
        from cohortforge.exporters.hl7.exporter import Hl7Exporter

        exporters.append(Hl7Exporter())
    if config.vista:
        from cohortforge.exporters.vista.exporter import VistaExporter

        exporters.append(VistaExporter())
    return tuple(exporters)


def export_context(
    config: RunConfig, network: CareNetwork, reference_date: dt.date
) -> ExportContext:
    run_id = uuid_strings(stream_key(config.seed, "run.id"), [0])[0].as_py()
    return ExportContext(
        seed=config.seed,
        reference_date=reference_date,
        run_id=run_id,
        organizations=network.organizations,
        providers=network.providers,
        payers=network.payers,
        fhir_bundle=config.fhir_bundle,
        hl7_framing=config.hl7_framing,
    )
