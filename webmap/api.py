"""JSON API blueprint (mounted at /api)."""

from flask import Blueprint

bp = Blueprint("api", __name__)
