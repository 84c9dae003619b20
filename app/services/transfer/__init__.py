"""Moving data in and out: versioned export/import documents, and the importer of the original Maestro's data.

Transports use this facade; services import the submodules they need.
"""

from app.services.transfer.documents import export_chunks, export_filename, import_json
from app.services.transfer.legacy_import import import_legacy_dir

__all__ = ["export_chunks", "export_filename", "import_json", "import_legacy_dir"]
