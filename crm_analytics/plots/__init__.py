"""All of crm-analytics' matplotlib drawing: ``plot_<thing>(result, *, ax=None) -> Axes``."""

__all__: list[str] = []
