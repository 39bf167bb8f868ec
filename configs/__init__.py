"""Declarations: the catalog models and loader, and runtime settings. The only code that reads configs."""

from configs.catalog import Catalog, ColumnPolicy, Dataset, Release, load_catalog
from configs.settings import Settings

__all__ = ["Catalog", "ColumnPolicy", "Dataset", "Release", "Settings", "load_catalog"]
