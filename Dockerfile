# One image for every process: the web app (gunicorn), the Celery worker, the
# Celery beat scheduler and the one-shot migrations. docker-compose.yml shows
# the command each one runs; see docs/deployment.md.
#
#   docker build -t petitions .
#   docker run --rm petitions flask --app petitions --help

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=petitions \
    INSTANCE_PATH=/app/instance

WORKDIR /app

# The dependencies first, in their own layer: it is rebuilt only when
# pyproject.toml changes, not on every change to the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The application keeps the repository's layout: it finds templates/ and
# migrations/ next to the petitions package (petitions.ROOT), so the tree is
# copied to /app and installed in place (editable) rather than into site-packages.
COPY . .
RUN pip install --no-deps -e . \
    && pybabel compile -d petitions/translations \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app \
    && mkdir -p /app/instance \
    && chown app:app /app/instance

# Nothing in /app is writable by the app except instance/ (the beat schedule).
USER app

EXPOSE 8000
CMD ["gunicorn", "--config", "config/gunicorn.py", "petitions:create_app()"]
