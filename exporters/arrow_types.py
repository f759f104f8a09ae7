"""Arrow type tests the exporters share."""

import pyarrow as pa


def is_text(data_type: pa.DataType) -> bool:
    """A string column in any of Arrow's layouts (string, large_string, string_view)."""
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )
