"""Care-network utilisation summed over chunks, and the network tables that report it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.exporters.synthea_columns import NETWORK_TABLES

from .care_network import CareNetwork


class UtilisationTotals:
    """Encounters per organization, clinician and payer, and members per payer."""

    def __init__(self) -> None:
        self.counts: dict[str, np.ndarray] = {}

    def add(self, chunk_counts: dict[str, np.ndarray]) -> None:
        for name, counts in chunk_counts.items():
            if name in self.counts:
                self.counts[name] = self.counts[name] + counts
            else:
                self.counts[name] = counts.astype(np.int64)

    def _column(self, name: str, size: int) -> pl.Series:
        return pl.Series(self.counts.get(name, np.zeros(size, dtype=np.int64)), dtype=pl.Int64)

    def tables(self, network: CareNetwork) -> dict[str, pa.Table]:
        """organizations, providers and payers in Synthea's layouts, with the counts."""
        orgs, providers, payers = network.organizations, network.providers, network.payers
        tables = {
            "organizations": orgs.with_columns(
                self._column("organizations", orgs.height).alias("UTILIZATION")
            ).to_arrow(),
            "providers": providers.with_columns(
                self._column("providers", providers.height).alias("ENCOUNTERS")
            ).to_arrow(),
            "payers": payers.with_columns(
                self._column("payers", payers.height).alias("COVERED_ENCOUNTERS"),
                self._column("payer_members", payers.height).alias("UNIQUE_CUSTOMERS"),
            ).to_arrow(),
        }
        return {name: table.select(NETWORK_TABLES[name]) for name, table in tables.items()}
