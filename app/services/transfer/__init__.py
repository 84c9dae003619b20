"""Moving data in and out: versioned export/import documents, and the importer of the original Maestro's data."""
