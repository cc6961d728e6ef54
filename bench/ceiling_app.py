"""The ceilings: what a bare Flask app does on the same gunicorn settings.

``GET /page`` renders a 10 KB Jinja template (the ceiling for pages);
``POST /insert`` stores one row with psycopg and pushes one Redis list item (the
ceiling for signing and confirming: one write and one hand-off to the broker).
Each gunicorn worker opens its own connections on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import redis
from flask import Flask, render_template, request

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
PARAGRAPHS = [f"Paragraph {n}: the appeal text, a list of demands and the form's labels."
              for n in range(100)]
_connections: dict[str, object] = {}


def _database() -> psycopg.Connection:
    if "db" not in _connections:
        _connections["db"] = psycopg.connect(os.environ["BENCH_CEILING_DSN"], autocommit=True)
    return _connections["db"]  # type: ignore[return-value]


def _redis() -> redis.Redis:
    if "redis" not in _connections:
        _connections["redis"] = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    return _connections["redis"]  # type: ignore[return-value]


@app.get("/page")
def page() -> str:
    return render_template("ceiling.html", title="A bare page", paragraphs=PARAGRAPHS)


@app.post("/insert")
def insert() -> tuple[str, int]:
    email = request.form.get("email", "")
    row_id = _database().execute(
        "INSERT INTO bench_ceiling (email) VALUES (%s) RETURNING id", (email,)).fetchone()
    _redis().lpush("bench:ceiling", str(row_id[0] if row_id else 0))
    return "", 303
