"""hl7 export (see exporters/text_export.py for the contract): HL7 v2.5.1 ADT and ORU^R01."""

from .exporter import Hl7Exporter

__all__ = ["Hl7Exporter"]
