"""Layout checks for the browser tests: in every visible form of the page, no two fields,
labels, hints or buttons overlap and none runs past its card, and the page never scrolls
sideways. Any screen's test can call `layout_problems(page)`."""

from __future__ import annotations

from playwright.sync_api import Page

# what a form is made of, as a person sees it
PARTS = ("input:not([type=hidden]), select, textarea, button, label, .field, small, legend, "
         ".field-error, p")

_CHECK = """(parts) => {
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 1 && box.height > 1 && style.visibility !== 'hidden';
  };
  const named = (el) => {
    const text = (el.getAttribute('name') || el.textContent || '').trim().replace(/\\s+/g, ' ');
    return `${el.tagName.toLowerCase()} "${text.slice(0, 40)}"`;
  };
  const problems = [];
  const forms = [...document.querySelectorAll('main form, dialog form')].filter(shown);
  for (const form of forms) {
    const card = form.closest('.card, dialog, .app-card') ?? form;
    const edge = card.getBoundingClientRect();
    const items = [...form.querySelectorAll(parts)].filter(shown);
    const boxes = items.map((el) => el.getBoundingClientRect());
    items.forEach((el, i) => {
      const box = boxes[i];
      if (box.left < edge.left - 1 || box.right > edge.right + 1) {
        problems.push(`${named(el)} runs past its card (${Math.round(box.left)}-${
          Math.round(box.right)} in ${Math.round(edge.left)}-${Math.round(edge.right)})`);
      }
      for (let j = i + 1; j < items.length; j += 1) {
        const other = items[j];
        if (el.contains(other) || other.contains(el)) continue;
        const b = boxes[j];
        const wide = Math.min(box.right, b.right) - Math.max(box.left, b.left);
        const high = Math.min(box.bottom, b.bottom) - Math.max(box.top, b.top);
        if (wide > 1 && high > 1) problems.push(`${named(el)} overlaps ${named(other)}`);
      }
    });
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px wide)`);
  }
  return problems;
}"""


def layout_problems(page: Page) -> list[str]:
    """What overlaps or runs past its card in the page's visible forms, in words."""
    return page.evaluate(_CHECK, PARTS)


def look(page: Page, name: str, widths: tuple[int, ...] = (390, 1366)) -> None:
    """At each width: no layout problem, no sideways scrolling, and a screenshot
    `{name}-{width}`; the page is left at the last width."""
    from tests.browser.conftest import screenshot  # (conftest is pytest's, loaded first)

    for pixels in widths:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        screenshot(page, f"{name}-{pixels}")
