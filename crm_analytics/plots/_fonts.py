"""Finding a font that can draw Chinese labels, without touching global rcParams.

Plots pass the family list to each text artist; when no CJK font is installed, the
lists hold only matplotlib's default, so nothing warns about missing fonts.
"""

from __future__ import annotations

import functools

#: CJK-capable font families, tried in order (Linux, Windows and macOS names).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "Droid Sans Fallback",
    "AR PL UMing CN", "Arial Unicode MS",
)


@functools.lru_cache(maxsize=1)
def installed_cjk_fonts() -> tuple[str, ...]:
    """The installed families of :data:`CJK_FONTS`, in preference order."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in installed)


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
