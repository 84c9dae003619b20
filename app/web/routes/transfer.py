"""/api/v1/export, /api/v1/import and /api/v1/import/legacy: move everything between Maestro databases."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.dto import AbstractDTO
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.typing import FieldDefinition

from app.db.writer import Writer
from app.models.transfer import ExportDocument, ImportResult, LegacyImportReport, LegacyImportRequest
from app.services import transfer
from app.web.openapi import conflict

TAGS = ["export and import"]
IMPORT_MAX_BYTES = 256 * 1024 * 1024  # POST /import carries a whole export document


class ExportDocumentBody(AbstractDTO[ExportDocument]):
    """Hands the import body to the service as bytes, and documents it as an ExportDocument.

    Why not a plain `JSONBody[ExportDocument]`: Litestar would first build Python objects for the whole (up to
    256 MiB) body and validate rows before the service can check the version, so a newer document would get a
    field error instead of "upgrade Maestro".
    """

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[Any, None, None]:
        """Unused: this DTO never transforms fields."""
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        """Unused: this DTO never transforms fields."""
        return False

    @classmethod
    def create_for_field_definition(cls, field_definition: FieldDefinition, handler_id: str, backend_cls=None) -> None:
        """Nothing to prepare: decoding is the service's."""

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        """The request body is an ExportDocument."""
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(ExportDocument))

    def decode_bytes(self, value: bytes) -> bytes:
        """The raw body: the service decodes it off the event loop (format and version first, then typed rows)."""
        return value


@get(
    "/export",
    tags=TAGS,
    summary="Export everything",
    responses={
        200: ResponseSpec(
            data_container=ExportDocument,
            media_type=MediaType.JSON,
            description="The whole database as one versioned JSON document (streamed, sent as an attachment)",
        )
    },
)
async def export_everything() -> Stream:
    """Stream projects, tasks, dependencies, sessions, links and timelines as one `maestro-export` document."""
    filename = transfer.export_filename()
    return Stream(
        transfer.export_chunks(),
        media_type=MediaType.JSON,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@post(
    "/import",
    tags=TAGS,
    summary="Import an export document",
    dto=ExportDocumentBody,
    return_dto=None,
    request_max_body_size=IMPORT_MAX_BYTES,
    responses=conflict("Ids (or project names) in the document exist here already; nothing was imported"),
)
async def import_document(
    data: JSONBody[bytes], writer: NamedDependency[Writer], actor: NamedDependency[str]
) -> ImportResult:
    """Load a document from GET /export with its ids, all or nothing.

    400 for an unknown format, a newer version, wrong types or references that do not resolve; 409 naming ids (or
    project names) that already exist here.
    """
    return await transfer.import_json(writer, data, actor)


@post(
    "/import/legacy",
    tags=TAGS,
    summary="Import the original Maestro's data directory",
    responses=conflict("It was imported already; nothing was imported"),
)
async def import_legacy(
    data: JSONBody[LegacyImportRequest], writer: NamedDependency[Writer], actor: NamedDependency[str]
) -> LegacyImportReport:
    """Convert and load `data_dir` (one JSON file per entity) in one transaction; secrets in old session env are
    dropped. 409 if it was imported already."""
    return await transfer.import_legacy_dir(writer, Path(data.data_dir), actor)


ROUTES = [export_everything, import_document, import_legacy]
