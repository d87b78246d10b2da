"""What a spec's ``refine:`` section sets, with the defaults a datacard falls back on."""

from __future__ import annotations

from dataclasses import dataclass

from medvalue.read._spec import DatasetSpec

#: The environment variable holding the pseudonym key unless ``--secret-env`` names another.

DEFAULT_MAX_SHIFT_DAYS = 180

DEFAULT_USES = {
    "en": [
        "clinical research and epidemiology",
        "training and validating medical AI models",
        "drug and device development (feasibility, real-world evidence)",
    ],
    "zh": [
        "临床研究与流行病学",
        "医疗人工智能模型训练与验证",
        "药械研发（可行性评估、真实世界证据）",
    ],
}
DEFAULT_RESTRICTIONS = {
    "en": [
        "no attempt to re-identify any person or to link with other data for that purpose",
        "use only inside the buyer's licensed environment; no onward transfer",
        "publish only aggregate results with counts of at least the small-cell threshold",
    ],
    "zh": [
        "不得尝试重新识别任何个人，或为此与其他数据关联",
        "仅限在买方许可环境内使用，不得转让",
        "仅发布汇总结果，计数不低于小单元阈值",
    ],
}


@dataclass(frozen=True)
class RefineSettings:
    """The spec's ``refine:`` section, with defaults."""

    dates: str = "keep"
    max_shift_days: int = DEFAULT_MAX_SHIFT_DAYS
    keep_raw_codes: bool = False
    keep_free_text: tuple[str, ...] = ()
    product_name: str | None = None
    intended_uses: tuple[str, ...] = ()
    restrictions: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> RefineSettings:
        r = spec.refine
        return cls(
            dates=r.get("dates", "keep"),
            max_shift_days=int(r.get("max_shift_days", DEFAULT_MAX_SHIFT_DAYS)),
            keep_raw_codes=bool(r.get("keep_raw_codes", False)),
            keep_free_text=tuple(r.get("keep_free_text") or ()),
            product_name=r.get("product_name"),
            intended_uses=tuple(r.get("intended_uses") or ()),
            restrictions=tuple(r.get("restrictions") or ()),
        )

    def keeps_text(self, table: str, column: str) -> bool:
        return column in self.keep_free_text or f"{table}.{column}" in self.keep_free_text
