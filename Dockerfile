# syntax=docker/dockerfile:1
# Single-container demo for a Hugging Face Space (README front matter: sdk: docker, app_port: 7860).
# Inside: the API on 127.0.0.1:8000, the dashboard on 0.0.0.0:7860, both under `uplift space`
# (services/space/supervisor.py), the container's PID 1. The model is trained at build time
# with a fixed seed, so the Space starts in seconds and every build serves the same model.
#   docker build -t uplift-space . && docker run --rm -p 127.0.0.1:7860:7860 uplift-space

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---- build: uv's locked two-step sync (dependencies, then the project) with a cache mount ----
FROM python:3.11-slim-bookworm AS build
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
WORKDIR /app

# The trainer's venv (same flags as Dockerfile.api's trainer), used only to train at build time.
FROM build AS trainer-build
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project --no-dev --group trainer --no-editable
COPY pyproject.toml uv.lock README.md ./
COPY shared ./shared
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --group trainer --no-editable

FROM trainer-build AS artifacts
ARG TRAIN_ROWS=200000
ARG TRAIN_SEED=7
RUN /app/.venv/bin/uplift train --rows "${TRAIN_ROWS}" --seed "${TRAIN_SEED}" --out /app/models

# What runs: the API and dashboard groups together, nothing of the trainer's.
FROM build AS space-build
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project --no-dev --group api --group dashboard --no-editable
COPY pyproject.toml uv.lock README.md ./
COPY shared ./shared
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --group api --group dashboard --no-editable

# ---- runtime: slim, no uv, no sources; UID 1000 as Spaces require ----
FROM python:3.11-slim-bookworm AS space
RUN useradd --create-home --uid 1000 user \
    && mkdir -p /app/var \
    && chown user:user /app/var
COPY --from=space-build /app/.venv /app/.venv
COPY --from=artifacts --chown=1000:1000 /app/models /app/models
# Scoring path: one OpenMP/BLAS thread, as in the API image; the Space's two cores serve both processes.
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/home/user \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    UPLIFT_MODELS_DIR=/app/models UPLIFT_DATA_DIR=/app/var
WORKDIR /app
USER 1000:1000
EXPOSE 7860
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-m", "services.space.probe", "http://127.0.0.1:7860/_stcore/health", "http://127.0.0.1:8000/ready"]
CMD ["uplift", "space", "--host", "0.0.0.0", "--port", "7860", "--api-port", "8000"]
