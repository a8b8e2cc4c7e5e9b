"""Finding a font that can draw Chinese labels, without touching global rcParams.

Plots pass the family list to each text artist; when no CJK font is installed, the
lists hold only matplotlib's default, so nothing warns about missing fonts.
"""

from __future__ import annotations

import functools
import os

#: CJK-capable font families, tried in order (Linux, Windows and macOS names).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "Droid Sans Fallback",
    "AR PL UMing CN", "Arial Unicode MS",
)


@functools.lru_cache(maxsize=1)
def installed_cjk_fonts() -> tuple[str, ...]:
    """The installed families of :data:`CJK_FONTS`, in preference order.

    Matplotlib lists the fonts once and caches the list on disk, so a font installed
    later (``apt-get install fonts-wqy-microhei``) stays invisible to it. When the list
    has no CJK font, the fonts on disk are looked up once more and the new ones added
    (and the cache rewritten), so charts become bilingual without deleting the cache.
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _cjk_families(manager)
    if not found and _add_new_fonts(manager):
        found = _cjk_families(manager)
        _save_font_list(manager)
    return found


def _cjk_families(manager: object) -> tuple[str, ...]:
    installed = {f.name for f in manager.ttflist}
    return tuple(name for name in CJK_FONTS if name in installed)


def _system_font_files() -> list[str]:
    """Font files on disk now (matplotlib's search: font folders and fc-list)."""
    from matplotlib import font_manager

    return font_manager.findSystemFonts()


def _add_new_fonts(manager: object) -> int:
    """Add the font files matplotlib's list does not know yet; return how many."""
    known = {f.fname for f in manager.ttflist}
    added = 0
    for path in _system_font_files():
        if path in known or not path.lower().endswith((".ttf", ".otf", ".ttc")):
            continue
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # unreadable or broken font file
            continue
        added += 1
    return added


def _save_font_list(manager: object) -> None:
    """Rewrite matplotlib's font cache, so the next process finds the fonts at once."""
    import matplotlib
    from matplotlib import font_manager

    version = getattr(font_manager.FontManager, "__version__", None)
    if version is None or not isinstance(manager, font_manager.FontManager):
        return
    try:
        cache = os.path.join(matplotlib.get_cachedir(), f"fontlist-v{version}.json")
        font_manager.json_dump(manager, cache)
    except OSError:  # a read-only cache folder: the fonts still work in this process
        pass


def cjk_font() -> str | None:
    """Name of the preferred installed CJK-capable family, or None."""
    fonts = installed_cjk_fonts()
    return fonts[0] if fonts else None


def font_family(*, cjk_first: bool = True) -> list[str]:
    """A ``fontfamily`` list: installed CJK fonts and matplotlib's default font."""
    cjk = list(installed_cjk_fonts())
    return [*cjk, "DejaVu Sans"] if cjk_first else ["DejaVu Sans", *cjk]


def needs_cjk(text: str) -> bool:
    """Whether ``text`` holds characters beyond Latin/Greek/Cyrillic (e.g. Chinese)."""
    return any(ord(ch) > 0x2E7F for ch in text)
