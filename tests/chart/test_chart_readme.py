"""The chart README is what helm-docs generates from README.md.gotmpl and values.yaml's comments."""

from __future__ import annotations

import pytest

from tests.chart.tools import REPO, find_tool, run, tool_cache_dir, versions


def test_chart_readme_is_generated_by_helm_docs() -> None:
    version = versions()["HELM_DOCS_VERSION"]
    helm_docs = find_tool(
        "helm-docs", "COCOON_HELM_DOCS", tool_cache_dir() / f"helm-docs-v{version}" / "helm-docs"
    )
    if helm_docs is None:
        pytest.skip(f"helm-docs v{version} is not built: run hack/install-go-tool.sh helm-docs")
    proc = run(
        ["bash", str(REPO / "hack" / "helm-docs.sh"), "--check"],
        check=False,
        env={"COCOON_HELM_DOCS": helm_docs, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, (
        "charts/cocoon-operator/README.md is stale: run hack/helm-docs.sh\n" + proc.stdout
    )
