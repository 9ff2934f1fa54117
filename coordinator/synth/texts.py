"""The exact strings the synthetic agencies use: causes, outcomes, reasoning excerpts, names.

Models match on these (seed 001 screens on 劳动争议 / 确认劳动关系 / 无异议), so they are kept
in one place and reported to model authors verbatim.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Court causes (案由) and outcomes.
CONFIRM = "确认劳动关系纠纷"
WAGES = "追索劳动报酬纠纷"
CONTRACT = "劳动合同纠纷"
INJURY = "工伤保险待遇纠纷"
COURT_CAUSES = (CONFIRM, WAGES, CONTRACT, INJURY)

# Arbitration causes: the committee's own wording, without 纠纷.
ARB_CONFIRM = "确认劳动关系"
ARB_WAGES = "追索劳动报酬"
ARB_SEVERANCE = "经济补偿金"
ARB_INJURY = "工伤保险待遇"
ARB_CAUSES = (ARB_CONFIRM, ARB_WAGES, ARB_SEVERANCE, ARB_INJURY)

CONFIRMED, UPHELD, PARTLY, DISMISSED, MEDIATED, WITHDRAWN = (
    "确认",
    "支持",
    "部分支持",
    "驳回",
    "调解",
    "撤诉",
)
OUTCOMES = (CONFIRMED, UPHELD, PARTLY, DISMISSED, MEDIATED, WITHDRAWN)

BASIS_JUDGMENT, BASIS_AWARD, BASIS_AUDIT, BASIS_OTHER = "判决", "仲裁", "稽核", "其他"

STATUSES = ("存续", "在业", "吊销", "注销", "迁出")

# Reasoning excerpts. Every uncontested court text contains NO_OBJECTION_COURT verbatim, every
# uncontested award text NO_OBJECTION_AWARD; every contested one contains DISPUTED.
NO_OBJECTION_COURT = "被告对原告的诉讼请求无异议"
NO_OBJECTION_AWARD = "被申请人对申请人的仲裁请求无异议"
DISPUTED = "辩称双方不存在劳动关系"

UNCONTESTED_COURT = (
    "本院认为，原告主张与被告存在劳动关系，" + NO_OBJECTION_COURT + "，且有工资表、考勤记录佐证，"
    "本院予以确认。",
    "庭审中，" + NO_OBJECTION_COURT + "，认可原告在其处工作并接受其管理。双方符合劳动关系的"
    "构成要件，本院予以确认。",
    NO_OBJECTION_COURT + "。经审查，原告接受被告的劳动管理，从事被告安排的有报酬的劳动，"
    "双方之间存在劳动关系。",
)
UNCONTESTED_AWARD = (
    "庭审中，" + NO_OBJECTION_AWARD + "，认可申请人在其处工作。本委对双方存在劳动关系予以确认。",
    NO_OBJECTION_AWARD + "。申请人提交的工作证明与被申请人陈述一致，本委予以支持。",
)
CONTESTED_DISMISSED_COURT = (
    "被告" + DISPUTED + "，原告系临时雇佣的零工。本院认为，原告提交的证据不足以证明其接受被告的"
    "劳动管理，对其诉讼请求不予支持。",
    "被告" + DISPUTED + "，并提交了用工台账。原告未能举证证明双方存在管理与被管理关系，应承担"
    "举证不能的不利后果。",
)
CONTESTED_CONFIRMED_COURT = (
    "被告" + DISPUTED + "。本院认为，原告提交的工资发放记录、工作证等证据能够相互印证，被告的"
    "抗辩意见缺乏依据，本院不予采纳，对双方存在劳动关系予以确认。",
)
CONTESTED_DISMISSED_AWARD = (
    "被申请人" + DISPUTED + "。申请人提交的证据不足以证明其主张，本委不予支持。",
)
CONTESTED_CONFIRMED_AWARD = (
    "被申请人" + DISPUTED + "，但申请人提交的工资流水与同事证言可以相互印证，本委予以确认。",
)
WAGES_UNCONTESTED = ("被告对原告主张的欠付工资数额无异议，但称因经营困难暂无力支付。",)
OTHER_CONTESTED = (
    "被告辩称已足额支付原告劳动报酬。本院认为，被告未提交工资支付凭证，应承担举证不能的责任。",
    "被告辩称解除劳动合同系因原告严重违反规章制度。本院认为，被告提交的证据不足以证明其主张。",
    "被告辩称原告的伤情与工作无关。本院认为，原告已取得工伤认定决定书，被告的抗辩不能成立。",
)
MEDIATED_TEXT = ("经本院主持调解，双方自愿达成调解协议。",)
WITHDRAWN_TEXT = ("原告于审理过程中申请撤回起诉，本院予以准许。",)
AWARD_OTHER = (
    "被申请人未按时足额支付申请人劳动报酬，本委对申请人的合理请求予以支持。",
    "被申请人辩称已支付经济补偿，但未提交证据，本委不予采纳。",
    "经本委主持调解，双方自愿达成调解协议。",
)

# Company names: <地名><字号><行业><组织形式>.
_TRADE_CHARS = "鑫华恒泰盛达宏博瑞祥鼎隆丰源通锦众诚信德安佳润昌兴富金远嘉和晟辉誉凯捷汇新明航宇"
_INDUSTRIES = (
    "建筑工程",
    "商贸",
    "物流",
    "餐饮管理",
    "劳务",
    "科技",
    "物业管理",
    "机械制造",
    "服装",
    "建材",
    "农业开发",
    "保洁服务",
    "家政服务",
    "电子",
    "装饰工程",
    "汽车服务",
    "食品",
    "人力资源",
)
_FORMS = ("有限公司", "有限公司", "有限公司", "有限责任公司")


def pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    """`n` strings drawn uniformly from `options` (one vectorised draw, numpy str array)."""
    return np.array(options)[rng.integers(0, len(options), n)]


def company_names(rng: np.random.Generator, places: np.ndarray) -> pl.Series:
    """Plausible names like 安阳鑫泰建筑工程有限公司 for companies registered at `places`."""
    n = len(places)
    chars = np.array(list(_TRADE_CHARS))
    frame = pl.DataFrame(
        {
            "place": places,
            "a": chars[rng.integers(0, len(chars), n)],
            "b": chars[rng.integers(0, len(chars), n)],
            "industry": pick(rng, _INDUSTRIES, n),
            "form": pick(rng, _FORMS, n),
        }
    )
    return frame.select(pl.concat_str(["place", "a", "b", "industry", "form"]).alias("name"))[
        "name"
    ]
