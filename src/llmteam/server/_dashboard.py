"""The dashboard (server-rendered HTML under ``/ui``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ui", include_in_schema=False)
