# syntax=docker/dockerfile:1
# Image of the cocoon-operator: only the `cocoon_operator` package (built from the root pyproject.toml)
# and its runtime dependencies. No dev stack, tests, contracts or tools (see .dockerignore).
# Release builds should pin the base by digest as well: python:3.11-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: wheels of the locked dependencies, then a wheel of cocoon_operator
FROM ${PYTHON_IMAGE} AS builder
# The version comes from the git tag (setuptools-scm), but the build context has no .git: the release
# workflow passes the tag's version here; a local build without it gets the fallback 0.0.0.
ARG VERSION=0.0.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COCOON_OPERATOR=${VERSION}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/operator.lock ./requirements/
COPY operator/cocoon_operator ./operator/cocoon_operator
# requirements/operator.lock pins every runtime dependency with its hashes (`make lock` rewrites it
# from pyproject.toml): pip refuses any file whose hash is not in it. The project's own wheel then
# resolves nothing more; its package list is only cocoon_operator ([tool.setuptools.packages.find]).
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/operator.lock \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime
FROM ${PYTHON_IMAGE}
ARG UID=65532
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Install from the builder's wheels only (the locked set): nothing is resolved from an index here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/cocoon_operator-*.whl
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without looking up names.
USER ${UID}:${UID}
WORKDIR /tmp
# 8080: liveness (/healthz), 9090: Prometheus metrics (/metrics)
EXPOSE 8080 9090
ENTRYPOINT ["cocoon-operator"]
CMD ["run", "--all-namespaces"]
