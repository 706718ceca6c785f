"""axe-core in the browser tests: run it on a Playwright page and return what it finds.

axe comes from the npm registry (`package.json`, pinned in `package-lock.json`); `make test` runs
`npm ci` when `node_modules/axe-core/axe.min.js` is missing. It is injected with `page.evaluate`
(the DevTools protocol), not a `<script>` tag: the site's Content Security Policy allows only its
own scripts with a nonce, so a tag would be refused, and the pages are tested with their real CSP
rather than a context that bypasses it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE_PATH = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0/2.1 A and AA plus axe's best practices: what "0 violations" means in these tests.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_available() -> bool:
    return AXE_PATH.exists()


@cache
def _axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


async def axe_violations(page: Any, *, include: str | None = None) -> list[dict[str, Any]]:
    """The axe violations on `page` as it is now (a list of axe result objects, each with
    `id`, `impact`, `help` and `nodes`). Injects axe into the page once per document."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    return await page.evaluate(
        """async ([include, tags]) => {
          const results = await window.axe.run(include || document, {
            runOnly: {type: "tag", values: tags},
            resultTypes: ["violations"],
          });
          return results.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => ({
              target: n.target, html: n.html, summary: n.failureSummary,
            })),
          }));
        }""",
        [include, TAGS],
    )


def describe(violations: list[dict[str, Any]]) -> str:
    """A readable account of the violations for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['html'][:160]}")
            if node.get("summary"):
                lines.append("      " + node["summary"].replace("\n", "\n      ")[:300])
    return "\n".join(lines)


async def assert_no_violations(page: Any, what: str, *, include: str | None = None) -> None:
    """Assert axe finds nothing on `page` (or on its `include` part), naming `what` was
    checked. Without axe (not installed: `make test` runs `npm ci`) nothing is checked, so the
    rest of a browser test still runs; test_browser_a11y.py says why it is missing."""
    if not axe_available():
        return
    violations = await axe_violations(page, include=include)
    assert violations == [], f"axe on {what} ({page.url}):\n{describe(violations)}"  # noqa: S101
